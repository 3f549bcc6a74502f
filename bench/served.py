"""The served audience's quality: `mokg eval`'s test tasks answered by the lookalike service itself.

`mokg eval` scores every model offline. This measures what a campaign gets from the product: per split seed,
the reviews minus that split's held-out edges (validation and test tasks', as `mokg eval` removes them) are
ingested into a fresh database on the running graph server, `mokg train --no-profiles --choose-method`
trains and records the serving choice (model, method, activity weight) on its own validation tasks, and then
every test task's seeds go through `expand_audience` as a request without a method (what the API does),
ranking every user (k = 10,000; a candidate not returned counts as last). PR-AUC is computed over the task's
candidates, as in `mokg eval`, for the recorded method alone (`method_ap`: a request that names it, so no
activity term) and for the served choice (`served_ap`). The served activity term counts each user's items on
the graph (when training writes the activity index), where a held-out buyer lacks its held-out edges and so
looks lighter than it is, which flatters a negative weight; so the held-out reviews are then put back on
the graph (the model already written), the activity rows are written again from the new counts, and the
served choice is measured again (`served_ap_restored`), where a held-out buyer counts the very item it is
held out for, which flatters a positive weight. The term's true effect lies between the two. The tasks are
`mokg eval`'s (same protocol, seeds and partition), so the figures sit beside its report's rows.

    mokg stack up --only graph
    python bench/served.py --reviews ../shared/data/amazon/Gift_Cards/Gift_Cards_5.json.gz \\
        --meta ../shared/data/amazon/Gift_Cards/meta_Gift_Cards.json.gz --seeds 0,1,2,3,4
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
from lookalike import PARTITION_SEED, read_kg  # bench/lookalike.py

from mokg.config import get_settings
from mokg.glom.data import TrainConfig
from mokg.glom.pipeline import train
from mokg.graph import Graph
from mokg.graph.schema import apply_schema
from mokg.ingest import ingest
from mokg.ingest.readers import JsonLines
from mokg.ingest.records import RecordError, parse_review
from mokg.lookalike.activity_index import write_activity_index
from mokg.lookalike.audience import (
    MAX_K,
    Audience,
    AudienceRequest,
    SeedCache,
    Seeds,
    expand_audience,
    recorded_method,
    recorded_serving,
)
from mokg.lookalike.evaluation import CHOOSE_MODELS, EvalConfig, served_models, serving_method_chooser
from mokg.lookalike.glom_model import ReviewIndex
from mokg.lookalike.metrics import average_precision
from mokg.lookalike.protocol import Split, build_split, training_mask
from mokg.lookalike.scoring import Method
from mokg.lookalike.tuning import tuned_params
from mokg.stack.services import drop_database, scratch_database


def split_reviews(
    reviews: Path, held: set[tuple[str, str]], kept: Path, held_out: Path, expected: int | None = None
) -> int:
    """``reviews`` written to ``kept``, except every review of a held-out (user, item) pair, written to
    ``held_out``; how many lines those were. A line is keyed as ``mokg ingest`` reads it
    (:func:`parse_review`: ``reviewerID``/``asin`` or, in Amazon 2023 files, ``user_id``/``parent_asin``,
    stripped); a line that does not parse stays in ``kept`` (ingest rejects it). Raises ``ValueError`` when a
    held-out pair has no review, or when ``expected`` (the held-out reviews of the graph the split was built
    on, one per distinct review key) differs from the distinct held-out reviews found: the served model would
    otherwise train on test edges."""
    dropped = 0
    keys: set[tuple[str, str, int]] = set()
    pairs: set[tuple[str, str]] = set()
    with JsonLines(reviews) as lines, gzip.open(kept, "wt") as k, gzip.open(held_out, "wt") as h:
        for line in lines:
            obj = line.obj
            out = k
            try:
                review = parse_review(obj)
            except RecordError:
                review = None
            if review is not None and (review.user_id, review.asin) in held:
                dropped += 1
                keys.add(review.key)
                pairs.add((review.user_id, review.asin))
                out = h
            out.write(json.dumps(obj) + "\n")
    if pairs != held:
        raise ValueError(f"{len(held - pairs)} of {len(held)} held-out (user, item) pairs have no review")
    if expected is not None and len(keys) != expected:
        raise ValueError(f"held out {len(keys)} reviews, expected {expected}")
    return dropped


def served_ap(
    graph: Graph, ix: ReviewIndex, split: Split, cache: SeedCache, method: Method | None
) -> tuple[float, Audience]:
    """Mean PR-AUC over ``split``'s test tasks of the served audiences, for requests that name ``method``
    (None: the recorded choice, with its activity term); the last task's audience."""
    aps = []
    for task in split.test:
        seeds = Seeds(user_ids=tuple(ix.users[int(s)] for s in task.seeds))
        audience = expand_audience(graph, AudienceRequest(seeds, k=MAX_K, method=method), seed_cache=cache)
        got = {m.user_id: m.score for m in audience.users}
        aps.append(average_precision([got.get(ix.users[int(c)], -1e9) for c in task.candidates], task.labels))
    return float(np.mean(aps)), audience


def _models(text: str) -> tuple[str, ...]:
    try:
        return served_models(text)
    except ValueError as e:  # argparse shows an ArgumentTypeError's reason, a ValueError's only its type
        raise argparse.ArgumentTypeError(str(e)) from None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reviews", type=Path, required=True)
    ap.add_argument("--meta", type=Path)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--min-buyers", type=int, default=EvalConfig.min_buyers)
    ap.add_argument(
        "--models",
        type=_models,
        default=CHOOSE_MODELS,
        help="the user vectors the choice may serve (`mokg train --choose-models`)",
    )
    ap.add_argument(
        "--tuned",
        type=Path,
        help="train with GLoM-Attn1's values from this `mokg eval` record (`mokg train --tuned`); its tuning "
        "must have used the same partition of the tasks, so that it saw validation tasks only",
    )
    ap.add_argument("--json", type=Path, help="write the per-seed figures here")
    args = ap.parse_args()
    try:
        tuned = tuned_params(args.tuned, "GLoM-Attn1") if args.tuned else {}
    except ValueError as e:
        ap.error(f"--tuned: {e}")
    cfg = EvalConfig()
    kg = read_kg(args.reviews, args.meta)
    ix = ReviewIndex.of(kg)
    settings = get_settings()
    rows: list[dict[str, Any]] = []
    for seed in (int(s) for s in args.seeds.split(",")):
        t0 = time.perf_counter()
        split = build_split(
            ix.u_idx,
            ix.i_idx,
            n_users=len(ix.users),
            n_items=len(ix.items),
            min_buyers=args.min_buyers,
            seed_fraction=cfg.seed_fraction,
            neg_ratio=cfg.neg_ratio,
            validation_fraction=cfg.validation_fraction,
            seed=seed,
            partition_seed=PARTITION_SEED,
        )
        held = {(ix.users[int(u)], ix.items[int(i)]) for u, i in split.heldout}
        db = scratch_database(settings, "served")
        try:
            with tempfile.TemporaryDirectory() as tmp, Graph(db) as g:
                reviews, held_reviews = Path(tmp) / "reviews.json.gz", Path(tmp) / "held.json.gz"
                expected = int((~training_mask(split, ix.u_idx, ix.i_idx)).sum())
                dropped = split_reviews(args.reviews, held, reviews, held_reviews, expected)
                apply_schema(g)
                ingest(g, reviews=reviews, meta=args.meta, rejects_path=Path(tmp) / "rejects.jsonl")
                report = train(
                    g,
                    db,
                    TrainConfig.from_settings(db, use_profiles=False, seed=seed, **tuned),
                    choose_method=serving_method_chooser(args.min_buyers, models=args.models),
                )
                cache = SeedCache()
                recorded = cast(Method, recorded_method(g, report.version))
                plain, _ = served_ap(g, ix, split, cache, recorded)
                served, a = served_ap(g, ix, split, cache, None)
                # the held-out reviews back on the graph (the model is trained and written): now a held-out
                # buyer's count includes the item it is held out for, where before it lacked every edge held
                # out; the served term's AP lies between what each protocol gives
                ingest(g, reviews=held_reviews, rejects_path=Path(tmp) / "rejects2.jsonl")
                serving = recorded_serving(g, report.version)
                if serving is not None and serving.activity is not None:
                    write_activity_index(g, serving.activity, report.version)
                restored, _ = served_ap(g, ix, split, cache, None)
        finally:
            drop_database(db)
        choice = report.serving_method or {}
        row = {
            "seed": seed,
            "served_ap": served,
            "served_ap_restored": restored,
            "method_ap": plain,
            "model": choice.get("model"),
            "method": a.stats.method,
            "activity_weight": a.stats.activity_weight,
            "test_tasks": len(split.test),
            "held_out_reviews": dropped,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    for key in ("served_ap", "served_ap_restored", "method_ap"):
        values = [float(r[key]) for r in rows]
        print(f"{key}: mean {np.mean(values):.4f} ± {np.std(values):.4f} over {len(values)} seeds")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
