"""Inductive embeddings against a full retrain, under the `mokg eval` protocol, on real reviews (issue 17).

Per split seed: the lookalike tasks of ``build_split`` over every user; their held-out edges are removed from
training for both models. A seeded share of users (``--hold-share``, default 0.2) is *held back*:

* **retrain**: PM + GLM fitted on every training review, held-back users included;
* **inductive**: PM + GLM fitted without the held-back users' reviews, then each held-back user folded in
  from its training reviews and its SIMILAR_TO edges (computed over the training reviews, as the streaming
  worker computes them), with no gradient step (:class:`mokg.glom.inductive.InductiveEmbedder`).

Both are scored the same way (centroid of the seeds; seeds and candidates may be held-back users) on the
test tasks. Reported: mean AP over all candidates, and over the tasks restricted to held-back candidates
(the users only the inductive path had to embed), with the ratio inductive / retrain. No graph server: the
measurement is :func:`mokg.stream.quality.measure`, which `mokg stream quality` runs on the graph's reviews.

    python bench/inductive.py --reviews ../shared/data/amazon/Gift_Cards/Gift_Cards_5.json.gz \\
        --meta ../shared/data/amazon/Gift_Cards/meta_Gift_Cards.json.gz --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lookalike import read_kg

from mokg.glom.data import TrainConfig
from mokg.stream.quality import measure, medians


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
    rows = [
        measure(kg, cfg, seed=int(s), hold_share=args.hold_share, tasks="test") for s in args.seeds.split(",")
    ]
    med = medians(rows)
    print(f"{args.reviews.name}: {rows[0].users} users, {rows[0].held_back} held back, seeds {args.seeds}")
    print("| candidates | retrain AP | inductive AP | ratio |\n|---|---|---|---|")
    for label, suffix in (("all", ""), ("held-back only", "_held")):
        r, i = med[f"ap_retrain{suffix}"], med[f"ap_inductive{suffix}"]
        print(f"| {label} | {r:.4f} | {i:.4f} | x{med['ratio' + suffix]:.3f} |")
    print(
        f"medians over seeds; without embedding: {[r.without_embedding for r in rows]}; "
        f"fit {med['seconds_retrain']:.1f} s (retrain) vs {med['seconds_partial_fit_and_fold_in']:.1f} s "
        "(fit without the held-back users, then fold-in)"
    )
    if args.out:
        args.out.write_text(
            json.dumps({"config": cfg.version, "rows": [r.as_dict() for r in rows], "medians": med}, indent=2)
        )


if __name__ == "__main__":
    main()
