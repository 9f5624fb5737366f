"""Serving errors as the API reports them (mapped to responses by apps.config.exception_handler)."""

from __future__ import annotations

from apps.config.errors import TrellisError


class ModelCallFailed(TrellisError):
    """The model server refused, dropped or timed out a call; `code` is the engine's
    (model_unavailable | model_timeout), so HTTP and run events name a failure the same way."""

    status, code = 502, "model_unavailable"
