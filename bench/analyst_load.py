"""Lookup capacity under analyst load: `POST /v1/lookalike` p99 alone and while 20 analysts send slow Cypher.

One `mokg serve` (gunicorn, as in production), one run. The lookalike side sends --requests requests (k=100,
--seeds random seed users each, cycling through --seed-sets sets) from --concurrency client threads. The
analyst side is --analysts client threads in a process of their own (so they never hold the measuring
client's GIL), each re-sending a CPU-heavy statement (a 30,000 × 30,000 UNWIND
count that runs until the API gives up on it) with a --analyst-timeout; their answers are counted by status
(504: stopped at the deadline and terminated on the server; 429: refused by the per-key or host-wide
bound, after the service's pause, MOKG_ANALYST_REFUSAL_DELAY_S; set it to 0 to see the flood unpaced), and
their answers a second per client are printed. The two conditions alternate (alone, loaded, alone, loaded,
... --rounds each) so a shared machine's drift falls on both. Prints p50/p99 alone and loaded, and the ratio
loaded/alone.

Needs a running graph (`mokg stack up --only graph`) whose users carry embeddings (`mokg train`, or
--fake-embeddings). Traffic goes to loopback only; every loop is bounded in count and time.

    python bench/analyst_load.py --database bench_gift --fake-embeddings
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import requests
from api import _fake_embeddings, _free_port, _serve

from mokg.apikeys import create_key, revoke_key
from mokg.config import get_settings
from mokg.graph import Graph

HOST = "127.0.0.1"
mp = multiprocessing.get_context("spawn")  # a clean child: no threads or sockets of this one
SLOW = "UNWIND range(1, 30000) AS a UNWIND range(1, 30000) AS b RETURN count(*) AS n"


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _analysts(
    base: str, tokens: list[str], timeout_s: float, patience: float, max_seconds: float, stop: Any, out: Any
) -> None:
    """The analyst side, in a process of its own: its threads must not share a GIL with the lookup clients
    whose latency is measured (they did at first, and the load client's own wait then counted as lookup
    latency). Puts the count of answers by status, and the seconds the side ran, on ``out`` when ``stop`` is
    set."""
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def loop(token: str) -> None:
        s = requests.Session()
        end = time.monotonic() + max_seconds
        while not stop.is_set() and time.monotonic() < end:
            try:
                r = s.post(
                    f"{base}/v1/cypher",
                    json={"query": SLOW, "timeout_s": timeout_s},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=timeout_s + 30,
                )
                code = r.status_code
                if code == 429:
                    time.sleep(float(r.headers.get("Retry-After", "1")) * patience)
            except requests.RequestException:
                code = -1
            with lock:
                statuses[code] += 1

    threads = [threading.Thread(target=loop, args=(t,), daemon=True) for t in tokens]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max_seconds + timeout_s + 35)
    out.put({"statuses": dict(statuses), "seconds": time.monotonic() - t0})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database", help="graph database (default: MOKG_GRAPH_DATABASE)")
    ap.add_argument("--requests", type=int, default=300, help="lookalike requests per block")
    ap.add_argument("--concurrency", type=int, default=2, help="lookalike client threads")
    ap.add_argument("--analysts", type=int, default=20, help="analyst client threads in the loaded blocks")
    ap.add_argument("--analyst-timeout", type=float, default=10.0, help="timeout_s each analyst asks for")
    ap.add_argument(
        "--patience",
        type=float,
        default=0.1,
        help="share of a 429's Retry-After an analyst waits before re-sending (0.1: impatient; 1: polite)",
    )
    ap.add_argument("--rounds", type=int, default=2, help="alone/loaded block pairs")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--seed-sets", type=int, default=64)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, help="threads per gunicorn worker (default: MOKG_WEB_THREADS)")
    ap.add_argument("--max-seconds", type=float, default=180, help="time cap per block")
    ap.add_argument("--fake-embeddings", action="store_true")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    settings = get_settings()
    if args.database:
        settings = settings.with_(graph_database=args.database)
    graph = Graph(settings)
    if args.fake_embeddings:
        _fake_embeddings(graph, args.dim, settings.seed)
    ids = [
        r["u"]
        for r in graph.run_text(
            "MATCH (u:User) WHERE u.embedding IS NOT NULL RETURN u.user_id AS u", {}, read_only=True
        )
    ]
    if len(ids) < 2 * args.seeds:
        raise SystemExit(f"only {len(ids)} users carry embeddings: run `mokg train` (or --fake-embeddings)")
    rng = np.random.default_rng(settings.seed)
    bodies = [
        {"seed_user_ids": [ids[j] for j in rng.choice(len(ids), args.seeds, replace=False)], "k": args.k}
        for _ in range(args.seed_sets)
    ]
    lookup = create_key(graph, ["lookup"], name="bench-analyst-load-lookup")
    analyst_keys = [create_key(graph, ["analyst"], name=f"bench-analyst-{i}") for i in range(args.analysts)]
    port = _free_port()
    args.threads = args.threads or settings.web_threads
    server = _serve(settings, port, args.workers, args.threads)
    base = f"http://{HOST}:{port}"
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "s"):
            local.s = requests.Session()
        s: requests.Session = local.s
        return s

    def lookalike_block() -> tuple[list[float], int]:
        latencies: list[float] = []
        errors = 0
        deadline = time.monotonic() + args.max_seconds

        def one(i: int) -> float | None:
            if time.monotonic() > deadline:
                return None
            t0 = time.perf_counter()
            r = session().post(
                f"{base}/v1/lookalike",
                json=bodies[i % len(bodies)],
                headers={"Authorization": f"Bearer {lookup.token}"},
                timeout=60,
            )
            if r.status_code != 200:
                raise RuntimeError(f"lookalike answered {r.status_code}: {r.text[:200]}")
            return (time.perf_counter() - t0) * 1000

        with ThreadPoolExecutor(args.concurrency) as pool:
            for f in [pool.submit(one, i) for i in range(args.requests)]:
                try:
                    ms = f.result()
                    if ms is not None:
                        latencies.append(ms)
                except Exception:
                    errors += 1
        return latencies, errors

    alone: list[float] = []
    loaded: list[float] = []
    errors = Counter[str]()
    statuses: Counter[int] = Counter()
    analyst_seconds = 0.0
    try:
        lookalike_block()  # warm-up: seed caches, connections
        for rnd in range(args.rounds):
            lat, err = lookalike_block()
            alone += lat
            errors["alone"] += err
            stop, out = mp.Event(), mp.Queue()
            tokens = [k.token for k in analyst_keys]
            proc = mp.Process(
                target=_analysts,
                args=(base, tokens, args.analyst_timeout, args.patience, args.max_seconds, stop, out),
            )
            proc.start()
            time.sleep(2.0)  # let the analysts' statements reach the server
            lat, err = lookalike_block()
            loaded += lat
            errors["loaded"] += err
            stop.set()
            side = out.get(timeout=args.max_seconds + args.analyst_timeout + 40)
            statuses.update(side["statuses"])
            analyst_seconds += side["seconds"]
            proc.join()
            print(
                f"round {rnd + 1}: alone p99 {_percentile(alone, 99):.1f} ms, "
                f"loaded p99 {_percentile(loaded, 99):.1f} ms",
                file=sys.stderr,
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        for k in [lookup, *analyst_keys]:
            revoke_key(graph, k.key.id)
        graph.close()

    ratio = _percentile(loaded, 99) / _percentile(alone, 99)
    # what pacing bounds: how often each analyst client got an answer (and so could send again)
    rate = sum(statuses.values()) / (analyst_seconds * args.analysts) if analyst_seconds else float("nan")
    figures: dict[str, Any] = {
        "alone": {"n": len(alone), "p50_ms": _percentile(alone, 50), "p99_ms": _percentile(alone, 99)},
        "loaded": {"n": len(loaded), "p50_ms": _percentile(loaded, 50), "p99_ms": _percentile(loaded, 99)},
        "p99_ratio": ratio,
        "errors": dict(errors),
        "analyst_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "analyst_requests_per_client_s": rate,
        "settings": {
            "analyst_max_concurrent": settings.analyst_max_concurrent,
            "analyst_max_per_key": settings.analyst_max_per_key,
            "analyst_refusal_delay_s": settings.analyst_refusal_delay_s,
            "workers": args.workers,
            "threads": args.threads,
        },
    }
    print(
        f"lookalike p50/p99 alone {_percentile(alone, 50):.1f}/{_percentile(alone, 99):.1f} ms, "
        f"under {args.analysts} analysts {_percentile(loaded, 50):.1f}/{_percentile(loaded, 99):.1f} ms: "
        f"p99 ratio {ratio:.2f} (target <= 2); analyst answers {figures['analyst_statuses']} "
        f"({rate:.2f} a second per client); "
        f"lookalike errors {dict(errors)}"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
