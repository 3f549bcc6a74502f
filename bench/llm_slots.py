"""LLM profile throughput of the embedded llama-server: completion tokens/s and requests/min.

Builds N real item-profile prompts (Gift_Cards titles, descriptions and reviews through the same
`item_prompt` as `mokg train`), then posts them to a running server (`mokg stack up --only llm`) with C
concurrent clients, cache off, same max_tokens as profiles. Run it once per `MOKG_LLM_PARALLEL` setting of
the server to compare slot counts:

    python bench/llm_slots.py --requests 12 --clients 4
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mokg.config import get_settings
from mokg.glom.profiles import PROFILE_MAX_TOKENS, ItemInfo, item_prompt
from mokg.llm import LLMClient
from mokg.llm.client import ChatRequest, ChatResult

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "amazon" / "Gift_Cards"


def _items(n: int) -> list[ItemInfo]:
    meta: dict[str, dict[str, Any]] = {}
    with gzip.open(DATA / "meta_Gift_Cards.json.gz", "rt") as f:
        for line in f:
            row = json.loads(line)
            meta[row["asin"]] = row
    reviews: dict[str, list[str]] = defaultdict(list)
    with gzip.open(DATA / "Gift_Cards_5.json.gz", "rt") as f:
        for line in f:
            row = json.loads(line)
            if row.get("reviewText"):
                reviews[row["asin"]].append(row["reviewText"])
    most = sorted(reviews, key=lambda a: (-len(reviews[a]), a))[:n]
    out = []
    for asin in most:
        m = meta.get(asin, {})
        description = " ".join(m.get("description") or []) if isinstance(m.get("description"), list) else ""
        brand = (("Brand", str(m["brand"])),) if m.get("brand") else ()
        out.append(ItemInfo(asin, str(m.get("title") or ""), description, brand, tuple(reviews[asin])))
    return out


def run(n: int, clients: int) -> dict[str, Any]:
    settings = get_settings().with_(llm_parallel=clients)
    client = LLMClient(settings, use_cache=False)
    prompts = [item_prompt(item) for item in _items(n)]
    requests = [ChatRequest(p.messages, max_tokens=PROFILE_MAX_TOKENS, temperature=0.0) for p in prompts]
    client.complete(requests[0])  # warm-up: first request loads pages of the model
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results: list[ChatResult] = list(pool.map(client.complete, requests))
    seconds = time.perf_counter() - t0
    completion = sum(r.completion_tokens for r in results)
    return {
        "requests": len(results),
        "clients": clients,
        "mean_prompt_tokens": round(sum(r.prompt_tokens for r in results) / len(results), 1),
        "completion_tokens": completion,
        "seconds": round(seconds, 2),
        "completion_tokens_per_s": round(completion / seconds, 1),
        "requests_per_min": round(60 * len(results) / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=12)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    print(json.dumps(run(args.requests, args.clients)))


if __name__ == "__main__":
    main()
