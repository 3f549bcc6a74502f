"""What inductive embeddings cost against a full retrain, measured on the graph's own reviews (issue 17,
item 4): the refresh policy (:mod:`mokg.stream.refresh`) retrains once a share of users is embedded
inductively, and this says how much lookalike quality that share gives up.

Under the `mokg eval` protocol (:func:`~mokg.lookalike.protocol.build_split`, whose held-out edges are
removed from both fits), a seeded share of users is *held back*:

* **retrain**: the model fitted on every training review, the held-back users' included;
* **inductive**: fitted without the held-back users' reviews, then each of them folded in from its training
  reviews and SIMILAR_TO edges with no gradient step, by the :class:`~mokg.glom.inductive.InductiveEmbedder`
  that embeds a streamed user. The edges follow the §3.4 rule over all training reviews; the worker applies
  it to the reviews it reads for a batch (``top_k`` may pick differently), which `bench/stream.py --quality`
  replays in full.

Both are scored by the centroid of the seeds (seeds and candidates may be held-back users), over every
candidate and over the held-back candidates only (the users only the inductive path had to embed). Nothing is
tuned on these figures, so the test tasks may be scored too (``tasks="all"``: more tasks, less noise).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mokg.clock import stamp
from mokg.glom.data import KGData, TrainConfig
from mokg.glom.fitting import fit, review_relation, similarity
from mokg.glom.inductive import PM_SUFFIX, InductiveEmbedder, Triple
from mokg.lookalike.glom_model import leak_free_profiles
from mokg.lookalike.protocol import Split, Task, build_split, evaluate
from mokg.lookalike.scoring import score_candidates
from mokg.progress import ProgressFactory, no_progress

# beside the model artifacts: the last measurement, for `mokg stream status`
LAST = "INDUCTIVE_QUALITY.json"
TaskSet = Literal["validation", "test", "all"]


@dataclass(frozen=True)
class InductiveQuality:
    """One split seed's comparison; AP is the mean average precision over the chosen tasks."""

    seed: int
    users: int
    held_back: int
    embedded_inductively: int
    without_embedding: int  # held-back users with no edge the partial model knows
    tasks: int
    held_tasks: int  # tasks with a held-back positive among their candidates
    ap_retrain: float
    ap_inductive: float
    ap_retrain_held: float
    ap_inductive_held: float
    seconds_retrain: float
    seconds_partial_fit_and_fold_in: float

    @property
    def ratio(self) -> float:
        return self.ap_inductive / self.ap_retrain

    @property
    def ratio_held(self) -> float:
        return self.ap_inductive_held / self.ap_retrain_held

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"ratio": self.ratio, "ratio_held": self.ratio_held}


@dataclass(frozen=True)
class EvalTasks:
    """The `mokg eval` split of a set of reviews, by user and item id, and the tasks chosen to score."""

    users: list[str]
    items: list[str]
    split: Split
    task_set: TaskSet
    scored: Split  # the chosen tasks, as ``test`` (what :func:`~mokg.lookalike.protocol.evaluate` measures)

    @classmethod
    def build(
        cls, user_ids: Sequence[str], item_ids: Sequence[str], *, seed: int, tasks: TaskSet, min_buyers: int
    ) -> EvalTasks:
        users, items = sorted(set(user_ids)), sorted(set(item_ids))
        u_idx, i_idx = {u: k for k, u in enumerate(users)}, {a: k for k, a in enumerate(items)}
        split = build_split(
            [u_idx[u] for u in user_ids],
            [i_idx[a] for a in item_ids],
            n_users=len(users),
            n_items=len(items),
            min_buyers=min_buyers,
            seed=seed,
            partition_seed=0,
        )
        chosen = {"validation": split.validation, "test": split.test, "all": split.tasks}[tasks]
        if not chosen:
            raise ValueError(
                f"no {tasks} task among the {len(split.tasks)} items with {min_buyers} or more buyers: "
                "lower min_buyers, or score all tasks"
            )
        return cls(users, items, split, tasks, replace(split, validation=(), test=chosen))

    @property
    def heldout(self) -> set[tuple[str, str]]:
        """The (user, item) edges the split holds out: no model may train on them."""
        return {(self.users[a], self.items[b]) for a, b in self.split.heldout.tolist()}

    def matrix(self, vectors: Mapping[str, np.ndarray], dim: int) -> np.ndarray:
        """One row per user, in :attr:`users` order; a user without a vector gets zeros."""
        out = np.zeros((len(self.users), dim))
        for k, u in enumerate(self.users):
            if u in vectors:
                out[k] = vectors[u]
        return out

    def held_only(self, held: set[str]) -> Split:
        """The chosen tasks with only the candidates in ``held``; a task left without a positive is dropped."""
        keep = np.array([u in held for u in self.users])

        def cut(t: Task) -> Task | None:
            m = keep[t.candidates]
            return replace(t, candidates=t.candidates[m], labels=t.labels[m]) if t.labels[m].any() else None

        return replace(
            self.scored, test=tuple(x for x in (cut(t) for t in self.scored.test) if x is not None)
        )


def average_precision(split: Split, emb: np.ndarray) -> float:
    """Mean AP of ``split``'s test tasks, each scored by the centroid of its seeds' rows of ``emb``."""
    if not split.test:
        return float("nan")
    run = evaluate(split, lambda t: score_candidates(emb, t.seeds, t.candidates, "centroid"))
    return float(run.mean()["average_precision"])


def measure(
    kg: KGData,
    cfg: TrainConfig,
    *,
    seed: int = 0,
    hold_share: float = 0.2,
    tasks: TaskSet = "validation",
    min_buyers: int = 20,
    serve_pm: bool = False,
    progress: ProgressFactory = no_progress,
) -> InductiveQuality:
    """Retrain against fit-then-fold-in for one split ``seed``; ``serve_pm`` compares the PM's vectors (what a
    ``+pm`` model serves) instead of GLM's."""
    if not 0 < hold_share < 1:
        raise ValueError(f"hold_share={hold_share}: must be between 0 and 1, both excluded")
    ev = EvalTasks.build(kg.reviews.user, kg.reviews.item, seed=seed, tasks=tasks, min_buyers=min_buyers)
    # as in `mokg eval`: user profiles rebuilt from the training items' (an LLM user profile quotes every
    # purchase, held-out ones included); the held-back users get none, as a streamed user has none
    train = kg.without_reviews(ev.heldout)
    rng = np.random.default_rng([seed, 17])
    held = set(rng.choice(ev.users, size=max(1, round(hold_share * len(ev.users))), replace=False).tolist())
    base = replace(train, reviews=train.reviews.mask(np.array([u not in held for u in train.reviews.user])))
    train, base = leak_free_profiles(train), leak_free_profiles(base)

    t0 = time.perf_counter()
    full = fit(train, cfg, progress)
    t_full = time.perf_counter() - t0
    t0 = time.perf_counter()
    partial = fit(base, cfg, progress)
    assert partial.state is not None
    embedder = InductiveEmbedder(partial.state, cfg.version + (PM_SUFFIX if serve_pm else ""))
    # the held-back users' triples as the streaming worker sees them: their reviews and SIMILAR_TO edges
    triples: dict[str, list[Triple]] = {f"u:{u}": [] for u in held}
    for u, a, p in zip(train.reviews.user, train.reviews.item, train.reviews.polarity, strict=True):
        if u in held:
            triples[f"u:{u}"].append((f"u:{u}", review_relation(p, cfg.use_polarity), f"i:{a}"))
    if cfg.use_similarity:
        sim_users, edges = similarity(train.reviews, cfg)
        for a, b in zip(edges.src, edges.dst, strict=True):
            t = (f"u:{sim_users[a]}", "SIMILAR_TO", f"u:{sim_users[b]}")
            for end in {sim_users[a], sim_users[b]} & held:
                triples[f"u:{end}"].append(t)
    folded = embedder.embed(triples)
    t_inductive = time.perf_counter() - t0

    dim = full.user.shape[1]
    retrained = dict(zip(full.user_ids, full.pm_user if serve_pm else full.user, strict=True))
    trained = dict(zip(partial.user_ids, partial.pm_user if serve_pm else partial.user, strict=True))
    emb_full = ev.matrix(retrained, dim)
    emb_ind = ev.matrix(trained | {key[2:]: vec for key, vec in folded.served.items()}, dim)
    held_split = ev.held_only(held)
    return InductiveQuality(
        seed=seed,
        users=len(ev.users),
        held_back=len(held),
        embedded_inductively=len(folded.served),
        without_embedding=len(folded.skipped),
        tasks=len(ev.scored.test),
        held_tasks=len(held_split.test),
        ap_retrain=average_precision(ev.scored, emb_full),
        ap_inductive=average_precision(ev.scored, emb_ind),
        ap_retrain_held=average_precision(held_split, emb_full),
        ap_inductive_held=average_precision(held_split, emb_ind),
        seconds_retrain=t_full,
        seconds_partial_fit_and_fold_in=t_inductive,
    )


def medians(rows: list[InductiveQuality]) -> dict[str, float]:
    """The AP figures and times as medians over split seeds, and the ratios of those medians (so a table of
    them reads consistently; each seed's own ratio is in its row)."""
    dicts = [asdict(r) for r in rows]
    med = {k: float(np.median([d[k] for d in dicts])) for k in dicts[0] if k.startswith(("ap_", "seconds_"))}
    for suffix in ("", "_held"):
        med["ratio" + suffix] = med["ap_inductive" + suffix] / med["ap_retrain" + suffix]
    return med


def save(folder: Path, version: str, hold_share: float, tasks: TaskSet, rows: list[InductiveQuality]) -> Path:
    """Keep the measurement of the served ``version`` beside its artifacts (the last one wins)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LAST
    body = {
        "version": version,
        "measured_at": stamp(),
        "hold_share": hold_share,
        "tasks": tasks,
        "rows": [r.as_dict() for r in rows],
        "medians": medians(rows),
    }
    path.write_text(json.dumps(body, indent=2))
    return path


def last(folder: Path, version: str | None) -> dict[str, Any] | None:
    """The last measurement, if it was of ``version``; a measurement of an older model says nothing of it."""
    path = folder / LAST
    if version is None or not path.exists():
        return None
    body: dict[str, Any] = json.loads(path.read_text())
    return body if body.get("version") == version else None
