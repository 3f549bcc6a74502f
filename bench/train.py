"""GLoM training cost: seconds and peak memory per stage, and LLM profile throughput against its floor.

On a scratch database of the running stack (`mokg stack up`) it ingests the given files, then times each
stage of `mokg train` (polarity, reading the training data, similarity, PM + GLM, write-back; profiles and
their text embeddings when --profiles N > 0). The profile figure generates N item profiles through the profile stage
(`generate_profiles` on the backend `mokg train` picks, MOKG_PROFILE_LLM: the LLM server with
MOKG_LLM_PARALLEL requests in flight, or the model in this process; LLM cache off) and compares completion
tokens/s and prompts/s with the floor: the same request bodies posted straight to the server's
/v1/chat/completions by MOKG_LLM_PARALLEL plain threads, alternating, medians of --reps passes, in the same run. Peak memory is this process's
maximum RSS after each stage (the graph server's own memory is not included). The similarity, PM and GLM
stages are printed beside a floor of bare arithmetic on the same data, measured in the same run (`_floors`).

    python bench/train.py --reviews ../shared/data/amazon/Gift_Cards/Gift_Cards_5.json.gz \\
        --meta ../shared/data/amazon/Gift_Cards/meta_Gift_Cards.json.gz --profiles 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import requests
import scipy.sparse as sp
import torch
from floors import EpochClock, glm_floor, peak_rss_mb, pm_floor

from mokg.config import get_settings
from mokg.glom.data import KGData, TrainConfig
from mokg.glom.fitting import Similar, fit, kg_triples
from mokg.glom.profiles import PROFILE_MAX_TOKENS, generate_profiles
from mokg.glom.stages import item_prompts, load_kg, run_polarity, run_similarity, write_back
from mokg.graph import Graph
from mokg.graph.schema import apply_schema
from mokg.ingest import ingest
from mokg.llm.client import ChatBackend, ChatRequest, ChatResult, Progress, build_request_body
from mokg.llm.local import profile_backend
from mokg.lookalike.glom_model import ReviewIndex
from mokg.stack.services import drop_database, scratch_database


class TokenCount:
    """A ChatBackend that passes requests to the client and counts the completion tokens it got back."""

    def __init__(self, client: ChatBackend) -> None:
        self.client = client
        self.completion_tokens = 0

    def chat_many(
        self, requests: Sequence[ChatRequest], progress: Progress | None = None
    ) -> list[ChatResult]:
        results = self.client.chat_many(requests, progress)
        self.completion_tokens += sum(r.completion_tokens for r in results)
        return results


def _profile_throughput(graph: Graph, n: int, reps: int) -> dict[str, Any]:
    """The profile stage (`generate_profiles` on `profile_backend`, cache off) against the floor: the
    byte-identical request bodies posted straight to the server by MOKG_LLM_PARALLEL plain threads. One
    untimed pass of each first (the server's prompt cache in the same state for both server paths; the
    in-process model loaded, its load timed apart); then the two alternate, ``reps`` times each, and the
    medians are compared."""
    settings = graph.settings
    prompts = item_prompts(graph, settings)[:n]
    client = profile_backend(settings, use_cache=False)
    bodies = [
        build_request_body(
            settings.llm_backend,
            settings.llm_model,
            ChatRequest(p.messages, temperature=0.0, max_tokens=PROFILE_MAX_TOKENS),
        )
        for p in prompts
    ]
    url = f"{settings.llm_url}/chat/completions"

    def post(body: dict[str, Any]) -> int:
        r = requests.post(url, json=body, timeout=settings.llm_timeout_s)
        r.raise_for_status()
        return int(r.json()["usage"]["completion_tokens"])

    def raw() -> int:
        with ThreadPoolExecutor(max(1, settings.llm_parallel)) as pool:
            return sum(pool.map(post, bodies))

    def stage() -> int:
        counted = TokenCount(client)
        generate_profiles(counted, prompts)
        return counted.completion_tokens

    raw()  # warm-up
    t0 = time.perf_counter()
    stage()
    first_stage_s = time.perf_counter() - t0
    rates: dict[str, list[float]] = {"stage": [], "raw": []}
    seconds: dict[str, list[float]] = {"stage": [], "raw": []}
    for _ in range(reps):
        for name, fn in (("raw", raw), ("stage", stage)):
            t0 = time.perf_counter()
            tokens = fn()
            seconds[name].append(time.perf_counter() - t0)
            rates[name].append(tokens / seconds[name][-1])
    ours_tps, raw_tps = statistics.median(rates["stage"]), statistics.median(rates["raw"])
    ours_s, raw_s = statistics.median(seconds["stage"]), statistics.median(seconds["raw"])
    return {
        "prompts": len(prompts),
        "backend": getattr(client, "model", ""),
        "parallel": settings.llm_parallel,
        "reps": reps,
        "first_stage_s": round(first_stage_s, 1),
        "client_tokens_per_s": round(ours_tps, 1),
        "raw_server_tokens_per_s": round(raw_tps, 1),
        "ratio": round(ours_tps / raw_tps, 3),
        "stage_s_per_prompt": round(ours_s / len(prompts), 2),
        "raw_s_per_prompt": round(raw_s / len(prompts), 2),
        "prompt_ratio": round(raw_s / ours_s, 3),
    }


def _floors(kg: KGData, cfg: TrainConfig, similar: Similar) -> dict[str, float]:
    """Seconds of the bare arithmetic each learning stage cannot avoid, on the same data, in this run:

    * similarity: one product ``B·Bᵀ`` of the binary user–item matrix (scipy), without the items past
      ``sim_max_item_raters``, in row blocks. Eq. 1 needs four such products plus the selection, but only
      over users who can have an edge (two ratings or more, not all of one polarity), so on a set where
      many users cannot, the stage may beat this reference.
    * PM: the same number of steps on the same batch shapes (``num_negatives`` corruptions each, shared
      per chunk when the PM shares them) of a bare TransE step: unique rows, gather, distances, backward,
      an SGD update of the rows — no typed sampling, no Adam, no renormalisation, no profile terms. One
      epoch is timed and scaled to the epochs.
    * GLM (when trained): one sparse propagation (torch CSR) through the same edges per layer and epoch.
    """
    kgt, _, _ = kg_triples(kg, cfg, similar)
    cfg = cfg.sized_for(kgt.num_triples)
    floors: dict[str, float] = {}
    ix = ReviewIndex.of(kg)
    b = sp.csr_matrix((np.ones(len(ix.u_idx)), (ix.u_idx, ix.i_idx)), shape=(len(ix.users), len(ix.items)))
    b.data[:] = 1.0  # a user who reviewed an item twice is still one rated entry
    if cfg.sim_max_item_raters:  # the stage leaves these items out, so must its floor
        b = b[:, np.flatnonzero(b.getnnz(axis=0) <= cfg.sim_max_item_raters)]
    bt = b.T.tocsr()
    t0 = time.perf_counter()
    for start in range(0, b.shape[0], 20_000):  # in row blocks, as the stage: at 1M users B·Bᵀ is GBs
        b[start : start + 20_000] @ bt
    floors["similarity"] = time.perf_counter() - t0

    floors["PM"] = pm_floor(kgt, cfg)

    if cfg.glm_epochs:  # the untrained GLM is one forward pass inside "pm+glm", not timed apart
        floors["GLM"] = glm_floor(kgt, cfg)
    return {name: round(sec, 4) for name, sec in floors.items()}


def run(args: argparse.Namespace) -> dict[str, Any]:
    s = get_settings()
    torch.set_num_threads(s.torch_threads)
    s = scratch_database(s, "bench_train")
    name = s.graph_database
    flags = {"pm_epochs": args.pm_epochs, "glm_epochs": args.glm_epochs, "use_profiles": False}
    cfg = TrainConfig.from_settings(s, **flags | TrainConfig.changes(args.train_config))
    stages: dict[str, dict[str, float]] = {}

    def timed(stage: str, fn: Any) -> Any:
        t0 = time.perf_counter()
        out = fn()
        stages[stage] = {
            "seconds": round(time.perf_counter() - t0, 2),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }
        print(
            f"  {stage:12} {stages[stage]['seconds']:8.1f} s  peak RSS {stages[stage]['peak_rss_mb']:.0f} MB",
            file=sys.stderr,
        )
        return out

    result: dict[str, Any] = {
        "reviews": str(args.reviews),
        "config": asdict(cfg),
    }
    try:
        with Graph(s) as g:
            apply_schema(g)
            timed(
                "ingest",
                lambda: ingest(
                    g,
                    reviews=args.reviews,
                    meta=args.meta,
                    rejects_path=s.home / "bench" / f"{name}.rejects.jsonl",
                ),
            )
            reviews = timed("polarity", lambda: run_polarity(g, s))
            kg = timed("read", lambda: load_kg(g, reviews))  # as `mokg train`: the reviews are not read again
            similar = timed("similarity", lambda: run_similarity(g, kg.reviews, s))
            if args.profiles:
                result["profiles"] = timed(
                    "profiles", lambda: _profile_throughput(g, args.profiles, args.reps)
                )
            clock = EpochClock()
            emb = timed("pm+glm", lambda: fit(kg, cfg, clock, similar=similar))
            stages["pm+glm"].update(clock.seconds())
            timed("write-back", lambda: write_back(g, emb))
            result["config"] = asdict(emb.config)  # as trained: sized for this graph
            result["floors"] = _floors(kg, cfg, similar)
            result.update(
                {"n_reviews": len(reviews), "n_users": len(emb.user_ids), "n_items": len(emb.item_ids)}
            )
    finally:
        if args.keep:
            result["database"] = name
            print(f"kept database {name} (bench/api.py --database {name})", file=sys.stderr)
        else:
            drop_database(s)
    result["stages"] = stages
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reviews", type=Path, required=True)
    ap.add_argument("--meta", type=Path)
    ap.add_argument(
        "--profiles", type=int, default=0, help="item profiles to generate for the LLM figure (0: skip)"
    )
    ap.add_argument(
        "--reps", type=int, default=3, help="timed passes of each LLM path (medians are compared)"
    )
    ap.add_argument("--pm-epochs", type=int, help="default: TrainConfig's")
    ap.add_argument("--glm-epochs", type=int, help="default: TrainConfig's")
    ap.add_argument(
        "--train-config",
        default="",
        help="TrainConfig overrides, e.g. pm_shared_negatives=1,pm_negatives=16",
    )
    ap.add_argument(
        "--keep", action="store_true", help="keep the trained scratch database (for bench/api.py --database)"
    )
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    result = run(args)
    line = " | ".join(f"{k} {v['seconds']:.1f}s" for k, v in result["stages"].items())
    split = result["stages"].get("pm+glm", {})
    line += f" (PM {split.get('PM', 0):.1f}s, GLM {split.get('GLM', 0):.1f}s)"
    print(
        f"{result.get('n_users', 0):,} users, {result.get('n_reviews', 0):,} reviews: {line} | peak RSS "
        f"{max(v['peak_rss_mb'] for v in result['stages'].values()):.0f} MB"
    )
    seconds = {"similarity": result["stages"].get("similarity", {}).get("seconds", 0), **split}
    for stage, floor in result.get("floors", {}).items():
        ratio = seconds.get(stage, 0) / floor if floor else float("nan")
        print(f"  {stage:10} {seconds.get(stage, 0):8.1f} s against a floor of {floor:8.2f} s: x{ratio:.1f}")
    if "profiles" in result:
        p = result["profiles"]
        print(
            f"profiles ({p['backend']}): {p['client_tokens_per_s']} tok/s through the stage vs "
            f"{p['raw_server_tokens_per_s']} tok/s raw server with {p['parallel']} in flight (ratio {p['ratio']}); "
            f"{p['stage_s_per_prompt']} s vs {p['raw_s_per_prompt']} s a prompt (ratio {p['prompt_ratio']}); "
            f"medians of {p['reps']} over {p['prompts']} prompts; first stage pass {p['first_stage_s']} s"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
