#!/usr/bin/env bash
# The main job on the embedded default: set up, start the stack, load the real Gift_Cards data, train
# GLoM (LLM profiles included), show what is in the graph, expand an audience, and serve the API.
#   MOKG_DEMO_FAST=1  skip the LLM profiles (about 12.5 of the 13.4 minutes the first time on 2 cores; cached afterwards)
set -euo pipefail
cd "$(dirname "$0")/.."
ITEM=${MOKG_DEMO_ITEM:-B004LLIKVU}   # the Amazon eGift Card: its buyers are the campaign's seeds
bash scripts/setup.sh
. .venv/bin/activate
# the real files, checked against their known SHA-256, into $MOKG_HOME/data/amazon/Gift_Cards/ (kept there:
# a re-run fetches nothing): from ../shared/data/amazon when it lies beside this clone, else from
# MOKG_DATA_MIRROR if set, else from the McAuley lab's servers
if [ -z "${MOKG_DATA_MIRROR:-}" ] && [ -d ../shared/data/amazon ]; then
  mokg data fetch gift_cards --from ../shared/data/amazon
else
  mokg data fetch gift_cards
fi
mokg stack up
mokg schema apply
# exit status 3 means "finished with rejects": reported, and the run carries on
mokg ingest --reviews "$(mokg data path gift_cards)" --meta "$(mokg data path gift_cards --file meta)" || [ $? -eq 3 ]
if [ -n "${MOKG_DEMO_FAST:-}" ]; then
  mokg train --no-profiles
else
  mokg train
fi
mokg summary
mokg expand --item "$ITEM" -k 10

# the lookup API: a key (only its hash is stored), gunicorn on 127.0.0.1, and one real query
HOME_DIR=$(python -c 'from mokg.config import get_settings; print(get_settings().home)')
PORT=$(python -c 'from mokg.config import get_settings; print(get_settings().web_port)')
TOKEN=$(mokg keys create --scope lookup --name demo | tail -n 1)
if ! curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
  nohup mokg serve >"$HOME_DIR/logs/web.log" 2>&1 &
  echo "web: started (pid $!), log $HOME_DIR/logs/web.log; stop it with: kill $!"
  for _ in $(seq 60); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 1; done
fi
set -x
curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "{\"seed_item\": \"$ITEM\", \"k\": 5, \"explain\": true}" "http://127.0.0.1:$PORT/v1/lookalike"
