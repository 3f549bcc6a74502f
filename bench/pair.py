"""PAIR worker throughput: entities/min and LLM tokens/s by 1 and 2 worker processes, against the floor.

The floor is the llama.cpp server's raw throughput on the very same prompts: the requests the workers sent
(rebuilt in-process from the LLM cache the run filled, so byte-identical, same seeds) are replayed straight to
the server without the cache, in the same batches and with the same client concurrency as a worker
(MOKG_LLM_PARALLEL; the n samples of a prompt as one request of n choices, as the workers send them); a
one-at-a-time replay, each sample its own request, is reported too. ratio = worker
tokens/s ÷ raw tokens/s: what the mining pipeline (graph IO, embeddings, scorer, queueing) costs on top of
generation, or gains by overlapping it.

Each run and worker count gets its own seed, so its prompts miss the LLM cache and really reach the server. Before
timing, each worker process mines one warm-up item (loading the embedder and the resolution pools is a
one-off cost per process). Runs on a scratch database with Gift_Cards ingested, dropped afterwards; needs the
embedded stack (`mokg stack up`).

    python bench/pair.py --entities 6 --workers 1 2 --json /tmp/pair-bench.json

A smoke run (tests/integration/test_bench_pair_smoke.py) shrinks everything: the 2-item test fixture, one
relation, one sample per prompt, short answers, no scorer, no warm-up (its figures mean nothing):

    python bench/pair.py --reviews tests/fixtures/amazon2023_reviews.jsonl \
        --meta tests/fixtures/amazon2023_meta.jsonl --entities 1 --workers 1 --warmup 0 \
        --relation COMPLEMENTARY_PRODUCT --n-samples 1 --max-tokens 16 --no-scorer
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from mokg.config import Settings, get_settings
from mokg.graph import Graph
from mokg.graph.schema import apply_schema
from mokg.ingest import ingest
from mokg.llm import LLMClient
from mokg.llm.client import ChatRequest, ChatResult, Progress
from mokg.pair import store
from mokg.pair.config import MiningConfig
from mokg.pair.runs import default_config, plan_run, wait_for_run
from mokg.pair.runtime import Runtime
from mokg.pair.store import SourceRef
from mokg.pair.training import latest_version, scorer_root, train_from_graph
from mokg.stack.services import drop_database, scratch_database

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "amazon" / "Gift_Cards"


class Recorder:
    """A ChatBackend that records the request batches and answers them from the wrapped (cached) client."""

    def __init__(self, llm: LLMClient) -> None:
        self.llm = llm
        self.batches: list[list[ChatRequest]] = []

    def chat_many(
        self, requests: Sequence[ChatRequest], progress: Progress | None = None
    ) -> list[ChatResult]:
        self.batches.append(list(requests))
        return self.llm.chat_many(requests, progress)


def start_workers(n: int, settings: Settings, log_dir: Path) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "MOKG_GRAPH_DATABASE": settings.graph_database}
    procs = []
    for i in range(n):
        with (log_dir / f"worker-{n}-{i}.log").open("wb") as log:
            argv = [sys.executable, "-m", "mokg.apps.cli", "worker", "-n", f"bench{n}-{i}@%h"]
            procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env))
    deadline = time.monotonic() + 180
    for i in range(n):
        path = log_dir / f"worker-{n}-{i}.log"
        while "ready." not in path.read_text(errors="replace"):
            if time.monotonic() > deadline or procs[i].poll() is not None:
                raise RuntimeError(f"worker {i} did not start:\n{path.read_text()[-2000:]}")
            time.sleep(0.5)
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=60)


def enqueue(graph: Graph, config: MiningConfig, keys: Sequence[SourceRef]) -> str:
    from mokg.apps.workers.tasks import mine_entity

    plan = plan_run(graph, config, keys=keys)
    for ref in plan.sources:
        mine_entity.delay(str(ref), plan.run_id, config.to_dict())
    return plan.run_id


def raw_floor(
    settings: Settings, graph: Graph, config: MiningConfig, keys: Sequence[SourceRef]
) -> dict[str, float]:
    """Rebuild the run's requests from the cache, then time them against the server without the cache."""
    recorder = Recorder(LLMClient(settings))
    rt = Runtime(settings, graph=graph, llm=recorder)
    miner = rt.miner(config)
    for ref in keys:
        source = store.fetch_source(graph, ref)
        assert source is not None
        miner.mine(source)
    raw = LLMClient(settings, use_cache=False)
    t0 = time.perf_counter()
    tokens = sum(r.completion_tokens for batch in recorder.batches for r in raw.chat_many(batch))
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    sequential = sum(raw.complete(r).completion_tokens for batch in recorder.batches for r in batch)
    sequential_s = time.perf_counter() - t0
    return {
        "requests": sum(len(b) for b in recorder.batches),
        "completion_tokens": tokens,
        "seconds": seconds,
        "tokens_per_s": tokens / seconds,
        "entities_per_min": 60 * len(keys) / seconds,
        "sequential_tokens_per_s": sequential / sequential_s,
    }


def run(args: argparse.Namespace) -> dict[str, object]:
    settings = scratch_database(get_settings(), "bench_pair")
    log_dir = Path(args.logs)
    log_dir.mkdir(parents=True, exist_ok=True)
    graph = Graph(settings)
    results: dict[str, object] = {"entities": args.entities, "workers": {}}
    try:
        apply_schema(graph)
        ingest(graph, reviews=args.reviews, meta=args.meta, rejects_path=log_dir / "rejects.jsonl")
        if not args.no_scorer and latest_version(scorer_root(settings.home)) is None:
            rt = Runtime(settings, graph=graph)
            train_from_graph(graph, rt.raw_embed, scorer_root(settings.home), max_triples=300)
        warmup = 2 * max(args.workers) if args.warmup is None else args.warmup
        items = [r for r, _ in store.select_sources(graph, ["Item"], args.entities + warmup)]
        warm, timed = items[:warmup], items[warmup:]
        if len(timed) < args.entities:
            raise SystemExit(
                f"only {len(items)} items to mine: fewer than {warmup} warm-up + {args.entities}"
            )
        mining = {
            "max_relations": args.max_relations,
            "max_tokens": args.max_tokens,
            "n_samples": args.n_samples,
            "use_scorer": not args.no_scorer,
            "relations": tuple(args.relations),
        }
        seed = 1000 * (int(time.time()) % 1_000_000)
        for n in args.workers:
            # a seed of its own per invocation and worker count: every prompt misses the LLM cache
            config = default_config(settings, seed=seed + n, **mining)
            procs = start_workers(n, settings, log_dir)
            try:
                if warm[:n]:
                    wait_for_run(graph, enqueue(graph, config, warm[:n]), timeout_s=900)
                t0 = time.perf_counter()
                run_id = enqueue(graph, config, timed)
                counts = wait_for_run(graph, run_id, timeout_s=3600, poll_s=0.5)
                seconds = time.perf_counter() - t0
            finally:
                stop_workers(procs)
            usage = store.run_usage(graph, run_id)
            floor = raw_floor(settings, graph, config, timed)
            row = {
                "seconds": seconds,
                "done": counts["done"],
                "failed": counts["failed"],
                "llm_calls": usage.calls,
                "cached_calls": usage.cached,
                "completion_tokens": usage.completion_tokens,
                "entities_per_min": 60 * counts["done"] / seconds,
                "tokens_per_s": usage.completion_tokens / seconds,
                "floor": floor,
                "ratio": (usage.completion_tokens / seconds) / floor["tokens_per_s"],
            }
            results["workers"][str(n)] = row  # type: ignore[index]
            print(
                f"{n} worker(s): {row['entities_per_min']:.2f} entities/min, {row['tokens_per_s']:.1f} tokens/s "
                f"({usage.calls} LLM calls, {usage.cached} cached); raw server on the same "
                f"{floor['requests']} prompts: {floor['tokens_per_s']:.1f} tokens/s "
                f"({floor['sequential_tokens_per_s']:.1f} one at a time), {floor['entities_per_min']:.2f} "
                f"entities/min; ratio {row['ratio']:.2f}",
                file=sys.stderr,
            )
    finally:
        graph.close()
        drop_database(settings)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entities", type=int, default=6, help="Items mined per worker count (timed).")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--max-relations", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--n-samples", type=int, default=3, help="Samples per prompt (the paper's n).")
    parser.add_argument(
        "--relation",
        dest="relations",
        action="append",
        default=[],
        help="Restrict R_s to this relation id (repeatable; default: all).",
    )
    parser.add_argument("--no-scorer", action="store_true", help="Mine without the plausibility scorer.")
    parser.add_argument(
        "--warmup",
        type=int,
        help="Items mined untimed before each worker count (default: 2 x the largest worker count).",
    )
    parser.add_argument("--reviews", type=Path, default=DATA / "Gift_Cards_5.json.gz")
    parser.add_argument("--meta", type=Path, default=DATA / "meta_Gift_Cards.json.gz")
    parser.add_argument("--logs", default="/tmp/mokg-bench-pair")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()
    results = run(args)
    text = json.dumps(results, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    for n, row in results["workers"].items():  # type: ignore[attr-defined]
        print(f"ratio workers/raw ({n} worker(s)): {row['ratio']:.2f}")


if __name__ == "__main__":
    main()
