#!/usr/bin/env bash
# The main job on the embedded default: set up, start the stack, load the real Gift_Cards data, train
# GLoM (LLM profiles included), and show what is in the graph.
#   MOKG_DEMO_FAST=1  skip the LLM profiles (about an hour the first time on 2 cores; cached afterwards)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${MOKG_DATA:-../shared/data/amazon/Gift_Cards}
bash scripts/setup.sh
. .venv/bin/activate
mokg stack up
mokg schema apply
# exit status 3 means "finished with rejects": reported, and the run carries on
mokg ingest --reviews "$DATA/Gift_Cards_5.json.gz" --meta "$DATA/meta_Gift_Cards.json.gz" || [ $? -eq 3 ]
if [ -n "${MOKG_DEMO_FAST:-}" ]; then
  mokg train --no-profiles
else
  mokg train
fi
mokg summary
