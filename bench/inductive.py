"""Inductive embeddings against a full retrain, under the `mokg eval` protocol, on real reviews (issue 17).

Per split seed: the lookalike tasks of ``build_split`` over every user; their held-out edges are removed from
training for both models. A seeded share of users (``--hold-share``, default 0.2) is *held back*:

* **retrain**: PM + GLM fitted on every training review, held-back users included;
* **inductive**: PM + GLM fitted without the held-back users' reviews, then each held-back user folded in
  from its training reviews and its SIMILAR_TO edges (computed over the training reviews, as the streaming
  worker computes them), with no gradient step (:class:`mokg.glom.inductive.InductiveEmbedder`).

Both are scored the same way (centroid of the seeds; seeds and candidates may be held-back users) on the
test tasks. Reported: mean AP over all candidates, and over the tasks restricted to held-back candidates
(the users only the inductive path had to embed), with the ratio inductive / retrain. No graph server.

    python bench/inductive.py --reviews ../shared/data/amazon/Gift_Cards/Gift_Cards_5.json.gz \\
        --meta ../shared/data/amazon/Gift_Cards/meta_Gift_Cards.json.gz --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from lookalike import read_kg

from mokg.glom.data import KGData, TrainConfig
from mokg.glom.fitting import fit, review_relation, similarity
from mokg.glom.inductive import InductiveEmbedder, Triple
from mokg.lookalike.protocol import Split, Task, build_split, evaluate
from mokg.lookalike.scoring import score_candidates


def _restricted(split: Split, keep: np.ndarray) -> Split:
    """The test tasks with only the candidates in ``keep`` (tasks left without a positive are dropped)."""

    def cut(t: Task) -> Task | None:
        m = keep[t.candidates]
        if not t.labels[m].any():
            return None
        return replace(t, candidates=t.candidates[m], labels=t.labels[m])

    test = tuple(x for x in (cut(t) for t in split.test) if x is not None)
    return replace(split, validation=(), test=test)


def _ap(split: Split, emb: np.ndarray) -> float:
    run = evaluate(split, lambda t: score_candidates(emb, t.seeds, t.candidates, "centroid"))
    return float(run.mean()["average_precision"])


def one_seed(kg: KGData, cfg: TrainConfig, seed: int, hold_share: float) -> dict[str, Any]:
    users = sorted(set(kg.reviews.user))
    items = sorted(set(kg.reviews.item))
    u_idx, i_idx = {u: k for k, u in enumerate(users)}, {a: k for k, a in enumerate(items)}
    uu = np.array([u_idx[u] for u in kg.reviews.user])
    ii = np.array([i_idx[a] for a in kg.reviews.item])
    split = build_split(uu, ii, n_users=len(users), n_items=len(items), seed=seed, partition_seed=0)
    heldout = {(users[a], items[b]) for a, b in split.heldout.tolist()}
    train = kg.without_reviews(heldout)
    rng = np.random.default_rng([seed, 17])
    held = set(rng.choice(users, size=round(hold_share * len(users)), replace=False).tolist())
    keep = np.array([u not in held for u in train.reviews.user])
    base = replace(train, reviews=train.reviews.mask(keep))

    t0 = time.perf_counter()
    full = fit(train, cfg)
    t_full = time.perf_counter() - t0
    t0 = time.perf_counter()
    partial = fit(base, cfg)
    assert partial.state is not None
    embedder = InductiveEmbedder(partial.state, cfg.version)
    # the held-back users' triples as the streaming worker sees them: reviews and SIMILAR_TO from the training reviews
    triples: dict[str, list[Triple]] = {f"u:{u}": [] for u in held}
    for u, a, p in zip(train.reviews.user, train.reviews.item, train.reviews.polarity, strict=True):
        if u in held:
            triples[f"u:{u}"].append((f"u:{u}", review_relation(p, cfg.use_polarity), f"i:{a}"))
    if cfg.use_similarity:
        sim_users, edges = similarity(train.reviews, cfg)
        for a, b in zip(edges.src, edges.dst, strict=True):
            t = (f"u:{sim_users[a]}", "SIMILAR_TO", f"u:{sim_users[b]}")
            for end in (sim_users[a], sim_users[b]):
                if end in held:
                    triples[f"u:{end}"].append(t)
    folded = embedder.embed(triples)
    t_inductive = time.perf_counter() - t0

    dim = full.user.shape[1]
    emb_full = np.zeros((len(users), dim))
    emb_full[[u_idx[u] for u in full.user_ids]] = full.user
    emb_ind = np.zeros((len(users), dim))
    emb_ind[[u_idx[u] for u in partial.user_ids]] = partial.user
    for key, vec in folded.served.items():
        emb_ind[u_idx[key[2:]]] = vec
    held_mask = np.zeros(len(users), bool)
    held_mask[[u_idx[u] for u in held]] = True
    held_split = _restricted(split, held_mask)
    test_only = replace(split, validation=())
    return {
        "seed": seed,
        "users": len(users),
        "held_back": len(held),
        "embedded_inductively": len(folded.served),
        "without_embedding": len(folded.skipped),
        "ap_retrain": _ap(test_only, emb_full),
        "ap_inductive": _ap(test_only, emb_ind),
        "held_tasks": len(held_split.test),
        "ap_retrain_held": _ap(held_split, emb_full),
        "ap_inductive_held": _ap(held_split, emb_ind),
        "seconds_retrain": t_full,
        "seconds_partial_fit_and_fold_in": t_inductive,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reviews", type=Path, required=True)
    p.add_argument("--meta", type=Path)
    p.add_argument("--seeds", default="0,1,2", help="split seeds, comma-separated")
    p.add_argument("--hold-share", type=float, default=0.2)
    p.add_argument("--out", type=Path, help="JSON file for the per-seed rows")
    args = p.parse_args()
    kg = read_kg(args.reviews, args.meta)
    cfg = TrainConfig(use_profiles=False)
    rows = [one_seed(kg, cfg, int(s), args.hold_share) for s in args.seeds.split(",")]
    med = {k: float(np.median([r[k] for r in rows])) for k in rows[0] if k.startswith(("ap_", "seconds_"))}
    print(
        f"{args.reviews.name}: {rows[0]['users']} users, {rows[0]['held_back']} held back, seeds {args.seeds}"
    )
    print("| candidates | retrain AP | inductive AP | ratio |\n|---|---|---|---|")
    for label, suffix in (("all", ""), ("held-back only", "_held")):
        r, i = med[f"ap_retrain{suffix}"], med[f"ap_inductive{suffix}"]
        print(f"| {label} | {r:.4f} | {i:.4f} | x{i / r:.3f} |")
    print(
        f"medians over seeds; without embedding: {[r['without_embedding'] for r in rows]}; "
        f"fit {med['seconds_retrain']:.1f} s (retrain) vs {med['seconds_partial_fit_and_fold_in']:.1f} s "
        "(fit without the held-back users, then fold-in)"
    )
    if args.out:
        args.out.write_text(json.dumps({"config": cfg.version, "rows": rows, "medians": med}, indent=2))


if __name__ == "__main__":
    main()
