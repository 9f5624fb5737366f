"""The pure flow engine: specs, node registry, validation, compilation and execution.

Nothing in this package may import Django, DRF, Channels, huey, psycopg or LlamaIndex;
the import-linter contract in pyproject.toml enforces it. The apps implement `flows.ports`.
"""
