"""GLM-stage experiments on real reviews without a graph server: validation AP of PM and GLM variants.

Builds the same :class:`KGData` that ``load_kg`` reads from the graph, straight from the review file (and the
item metadata when given): reviews deduplicated as ``mokg ingest`` does, polarity p_uv from VADER sentiment
and the rating (§3.3, α = 0.5), IN_CATEGORY (leaf path), SOLD_BY and ALSO_BOUGHT (targets that are items).
No LLM profiles. Then, per split seed, it trains the PM once and every requested GLM variant from it, and
prints the mean AP on the **validation** tasks (centroid scoring) and the mean pairwise cosine of the
users' embeddings (the collapse check). Every seed keeps ``mokg eval``'s partition of the tasks into
validation and test (its first seed's) (until 2026-12-05 each seed drew its own, so a sweep over several
seeds also scored items that are test tasks in ``mokg eval``). Test-task AP is printed only with ``--test``.

    python bench/lookalike.py --reviews ../shared/data/amazon/Gift_Cards/Gift_Cards_5.json.gz \\
        --meta ../shared/data/amazon/Gift_Cards/meta_Gift_Cards.json.gz --seeds 0,1 \\
        --variant default --variant 'residual=0' --variant 'aggregator=mean'

A variant is ``name`` or comma-separated ``key=value`` overrides of :class:`TrainConfig`; ``default`` is the
TrainConfig defaults and ``PM`` the PM alone (``PM,key=value,...``: the PM alone with overrides).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mokg.config import get_settings
from mokg.glom.data import KGData, Reviews, TrainConfig
from mokg.glom.fitting import fit_glm, fit_pm, kg_triples, rows_of
from mokg.ingest.readers import JsonLines
from mokg.ingest.records import RecordError, parse_item, parse_review
from mokg.lookalike.evaluation import TUNE_ON, EvalConfig
from mokg.lookalike.glom_model import PM_FIELDS, ReviewIndex, leak_free_profiles, mean_profiles
from mokg.lookalike.protocol import build_split, evaluate
from mokg.lookalike.registry import BASELINE_NAMES
from mokg.lookalike.scoring import mean_pairwise_cosine, score_candidates
from mokg.lookalike.tuning import RULES

PARTITION_SEED = EvalConfig().seeds[0]


def parsed_reviews(path: Path) -> Iterator[Any]:
    """The reviews of a file that parse, as ``mokg ingest`` reads them (the rest are skipped here)."""
    with JsonLines(path) as lines:
        for line in lines:
            try:
                yield parse_review(line.obj)
            except RecordError:
                continue


def review_text_profiles(reviews_path: Path, kg: KGData) -> dict[tuple[str, str], np.ndarray]:
    """Each (user, item) pair's review text (title and body of its reviews) embedded by the profile text
    embedder (MOKG_EMBED_MODEL): the review itself as user and item text (issue 12, item 5)."""
    from mokg.llm.embeddings import TextEmbedder

    texts: dict[tuple[str, str], list[str]] = {}
    for r in parsed_reviews(reviews_path):
        texts.setdefault((r.user_id, r.asin), []).append(" ".join(t for t in (r.title, r.text) if t))
    pairs = sorted(set(zip(kg.reviews.user, kg.reviews.item, strict=True)))
    vectors = TextEmbedder.from_settings(get_settings()).encode([" ".join(texts[p])[:2000] for p in pairs])
    return dict(zip(pairs, vectors, strict=True))


def with_review_profiles(kg: KGData, pair_vectors: dict[tuple[str, str], np.ndarray]) -> KGData:
    """User and item profile vectors as the normalised mean of their reviews' vectors, from ``kg``'s reviews
    only: called on a split's training graph, so no held-out review's text reaches any vector."""
    groups: dict[str, list[np.ndarray]] = {}
    for u, i in set(zip(kg.reviews.user, kg.reviews.item, strict=True)):
        groups.setdefault(f"u:{u}", []).append(pair_vectors[(u, i)])
        groups.setdefault(f"i:{i}", []).append(pair_vectors[(u, i)])
    return replace(kg, profiles=mean_profiles(groups))


def read_kg(reviews_path: Path, meta_path: Path | None) -> KGData:
    from mokg.polarity import VaderScorer, compute_polarity, score_texts

    rows: dict[tuple[str, str, int], Any] = {r.key: r for r in parsed_reviews(reviews_path)}
    reviews = sorted(rows.values(), key=lambda r: (r.user_id, r.asin, r.time))
    texts = [" ".join(t for t in (r.title, r.text) if t) for r in reviews]
    sentiment = score_texts(VaderScorer(), texts, get_settings().sentiment_workers)
    asins = sorted({r.asin for r in reviews})
    a_idx = {a: k for k, a in enumerate(asins)}
    pol = compute_polarity(
        [a_idx[r.asin] for r in reviews], [r.rating for r in reviews], sentiment, alpha=0.5
    )
    items = set(asins)
    supkg: list[tuple[str, str, str]] = []
    metas = []
    if meta_path is not None:
        with JsonLines(meta_path) as lines:
            for line in lines:
                try:
                    metas.append(parse_item(line.obj))
                except RecordError:
                    continue
        items |= {m.asin for m in metas}
        for m in metas:
            if m.category_path:
                supkg.append((m.asin, "IN_CATEGORY", "c:" + " > ".join(m.category_path)))
            if m.store:
                supkg.append((m.asin, "SOLD_BY", "s:" + m.store))
            supkg += [(m.asin, "ALSO_BOUGHT", "i:" + b) for b in m.also_bought if b in items]
    return KGData(
        reviews=Reviews(
            [r.user_id for r in reviews],
            [r.asin for r in reviews],
            np.array([r.rating for r in reviews], dtype=np.float64),
            np.asarray(pol.polarity, dtype=np.float64),
        ),
        items=sorted(items),
        supkg=supkg,
    )


def _parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    if text in ("default", "PM"):
        return text, {}
    return text, TrainConfig.changes(text.removeprefix("PM,"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reviews", type=Path, required=True)
    ap.add_argument("--meta", type=Path)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--min-buyers", type=int, default=20)
    ap.add_argument("--variant", action="append", default=[])
    ap.add_argument("--method", default="centroid")
    ap.add_argument("--test", action="store_true", help="also print test-task AP (do not tune on it)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--eval",
        type=Path,
        metavar="OUT",
        help="instead of the sweep: the whole `mokg eval` protocol (no ablations) on this KGData, report to OUT",
    )
    ap.add_argument("--baselines", default=",".join(BASELINE_NAMES), help="baselines of --eval")
    ap.add_argument(
        "--review-profiles",
        action="store_true",
        help="sweep: profile vectors from the training reviews' own text (leak-free per split)",
    )
    ap.add_argument(
        "--tune-budget", type=int, default=6, help="--eval: configurations per learned model on validation"
    )
    ap.add_argument(
        "--tune-splits", type=int, default=2, help="--eval: splits each tuning configuration is scored on"
    )
    ap.add_argument(
        "--tune-rule",
        choices=RULES,
        default=RULES[0],
        help="--eval: when a tuned configuration or activity weight displaces its default (mokg eval --help)",
    )
    ap.add_argument(
        "--tune-on",
        choices=TUNE_ON,
        default=TUNE_ON[0],
        help="--eval: score configurations on the validation tasks or on tasks inside each split's training",
    )
    ap.add_argument(
        "--no-activity", action="store_true", help="--eval: no user-activity term (each model's own ranking)"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    kg = read_kg(args.reviews, args.meta)
    ix = ReviewIndex.of(kg)
    users, items, u_idx, i_idx = ix.users, ix.items, ix.u_idx, ix.i_idx
    print(
        f"{len(users)} users, {len(items)} reviewed items, {len(kg.items)} items, {len(kg.reviews)} reviews"
    )
    if args.eval is not None:
        from mokg.lookalike.evaluation import (
            ACTIVITY_WEIGHTS,
            evaluate_kg,
            table_rows,
            verdict,
            write_report,
        )

        ecfg = EvalConfig(
            min_buyers=args.min_buyers,
            seeds=tuple(int(s) for s in args.seeds.split(",")),
            ablations=False,
            baselines=tuple(b for b in args.baselines.split(",") if b),
            tune_budget=args.tune_budget,
            tune_splits=args.tune_splits,
            tune_rule=args.tune_rule,
            tune_on=args.tune_on,
            activity_weights=(0.0,) if args.no_activity else ACTIVITY_WEIGHTS,
        )
        t0 = time.perf_counter()

        def log_progress(label: str, total: int | None) -> Callable[[int], None]:
            return lambda done: print(
                f"{time.perf_counter() - t0:7.1f} s  {label}: {done}/{total}", flush=True
            )

        result = evaluate_kg(kg, ecfg, dataset=args.reviews.name.split(".")[0], progress=log_progress)
        for name, t in result.tuning.items():
            print(
                f"tuned {name}: {t.params or 'defaults'} val AP {t.default_ap:.4f} -> {t.best.validation_ap:.4f}"
                f" (top {t.top.validation_ap:.4f}: {t.top.params or 'defaults'})"
            )
        write_report(result, args.eval)
        for row in table_rows(result, result.models):
            print(" | ".join(row))
        print(verdict(result))
        return
    variants = [_parse_variant(v) for v in (args.variant or ["PM", "default"])]
    pair_vectors = review_text_profiles(args.reviews, kg) if args.review_profiles else None
    out: dict[str, dict[str, list[float]]] = {
        name: {"val": [], "test": [], "cos": []} for name, _ in variants
    }
    for seed in [int(s) for s in args.seeds.split(",")]:
        # every seed keeps `mokg eval`'s validation/test partition of the tasks (its first seed's), so a
        # sweep never scores an item that is a test task there, whatever seeds it is given
        split = build_split(
            u_idx,
            i_idx,
            n_users=len(users),
            n_items=len(items),
            min_buyers=args.min_buyers,
            seed=seed,
            partition_seed=PARTITION_SEED,
        )
        held = {(users[u], items[i]) for u, i in split.heldout}
        train_kg = leak_free_profiles(kg.without_reviews(held))
        if pair_vectors is not None:
            train_kg = with_review_profiles(train_kg, pair_vectors)
        val_only = replace(split, test=split.validation)
        pm_cache: dict[Any, Any] = {}
        for name, change in variants:
            cfg = TrainConfig.from_settings(get_settings(), seed=seed, **change)
            kgt, kg_users, n_sim = kg_triples(train_kg, cfg)
            key = tuple(getattr(cfg, f) for f in PM_FIELDS)
            if key not in pm_cache:
                pm_cache[key] = fit_pm(kgt, cfg)
            pm = pm_cache[key]
            nodes = (
                pm.entity_embeddings if name.split(",")[0] == "PM" else fit_glm(kgt, pm, cfg).node_embeddings
            )
            emb = ix.user_matrix(kg_users, nodes[rows_of(kgt, [f"u:{u}" for u in kg_users])].numpy())

            def score(task: Any, emb: np.ndarray = emb) -> np.ndarray:
                return score_candidates(emb, task.seeds, task.candidates, args.method)

            val = evaluate(val_only, score).mean()["average_precision"]
            out[name]["val"].append(val)
            out[name]["cos"].append(mean_pairwise_cosine(emb))
            line = f"seed {seed} {name:40s} val AP {val:.4f}  user cos {out[name]['cos'][-1]:.3f}  sim edges {n_sim}"
            if args.test:
                out[name]["test"].append(evaluate(split, score).mean()["average_precision"])
                line += f"  test AP {out[name]['test'][-1]:.4f}"
            print(line, flush=True)
    print(f"\n| variant | validation AP (mean over seeds {args.seeds}) | user mean pairwise cosine |")
    print("|---|---|---|")
    for name, r in out.items():
        print(f"| {name} | {np.mean(r['val']):.4f} | {np.mean(r['cos']):.3f} |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
