"""The GLoM training pipeline (§3.2–3.7) over the graph, as PyKEEN's ``pipeline()`` is over its parts.

Each stage reads the graph and writes its result back, so every intermediate result can be queried:

1. polarity (§3.3)      ``REVIEWED.sentiment / like / polarity``
2. similarity (§3.4)    ``(:User)-[:SIMILAR_TO {sim, n_co_rated}]->(:User)``
3. profiles (§3.2)      ``profile, profile_model, profile_prompt_hash, profile_at`` on users and items (LLM)
4. text embeddings      ``profile_embedding`` (§3.2.4, sentence-transformers)
5. PM (§3.5) and GLM (§3.6–3.7), trained in memory from :class:`~mokg.glom.data.KGData`
6. write-back           ``embedding`` (GLM), ``pm_embedding``, ``embedding_version``, ``embedding_at``, and
                        vector indexes on ``User(embedding)`` and ``Item(embedding)``

The graph stages are in :mod:`mokg.glom.stages`, the model fitting (pure: KGData in, embeddings out) in
:mod:`mokg.glom.fitting`; :func:`train` composes them for `mokg train` and reports each stage's time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mokg.config import Settings
from mokg.data import DataError
from mokg.glom.data import KGData, Reviews, TrainConfig
from mokg.glom.fitting import fit
from mokg.glom.inductive import LIGHTGCN_SUFFIX, PM_SUFFIX, set_current
from mokg.glom.stages import (
    USER_EMBEDDING,
    load_kg,
    load_reviews,
    run_polarity,
    run_profiles,
    run_similarity,
    run_text_embeddings,
    write_back,
)
from mokg.graph import Graph
from mokg.lookalike.activity_index import ACTIVITY_PROPERTY, write_activity_index
from mokg.lookalike.audience import MethodChoice, record_method, recorded_serving, serving_of
from mokg.lookalike.scoring import activity_label, mean_pairwise_cosine
from mokg.progress import ProgressFactory, no_progress


@dataclass
class StageTiming:
    stage: str
    seconds: float
    detail: str


@dataclass
class TrainReport:
    version: str
    config: TrainConfig
    stages: list[StageTiming] = field(default_factory=list)
    # `--choose-method`: the serving method chosen on validation tasks and how (MethodChoice.detail())
    serving_method: dict[str, Any] | None = None

    def table(self) -> list[tuple[str, str, str]]:
        return [(s.stage, f"{s.seconds:.1f}", s.detail) for s in self.stages]


STAGES = ("polarity", "similarity", "profiles", "text-embeddings", "pm+glm", "write-back")
# the optional last stage (`choose_method`), not skippable: it runs only when asked
CHOOSE_STAGE = "choose-method"
# picks the serving method of the model `cfg` trains, from the graph's reviews
MethodChooser = Callable[[KGData, TrainConfig, ProgressFactory], MethodChoice]


def train(
    graph: Graph,
    settings: Settings,
    cfg: TrainConfig,
    *,
    skip: Sequence[str] = (),
    progress: ProgressFactory = no_progress,
    choose_method: MethodChooser | None = None,
) -> TrainReport:
    """Run every stage not in ``skip`` in order, timing each; the embeddings land on the graph.

    With ``choose_method`` (:func:`mokg.lookalike.evaluation.serving_method_chooser`), a stage before the
    write-back picks the served user vectors (GLM's, the PM's, or LightGCN's, whichever scores highest) and the
    scoring method on validation tasks (one more fit per fold, without the fold's held-out reviews), and
    records the method on a ``:Model {version}`` node, which ``mokg expand`` and ``POST /v1/lookalike`` use
    when a request names no method; also in the report. Serving the PM's vectors adds ``+pm`` to the
    version, LightGCN's ``+lightgcn``."""
    unknown = set(skip) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stage(s) to skip: {sorted(unknown)}; stages are {', '.join(STAGES)}")
    if choose_method is not None and "write-back" in skip:
        # the choice is recorded for the vectors the index serves: never for vectors that were not written
        raise ValueError("choose_method needs the write-back stage: it records a choice for written vectors")
    torch.set_num_threads(settings.torch_threads)
    report = TrainReport(cfg.version, cfg)

    @contextmanager
    def stage(name: str) -> Iterator[list[str]]:
        detail: list[str] = []
        t0 = time.perf_counter()
        yield detail
        report.stages.append(StageTiming(name, time.perf_counter() - t0, " ".join(detail)))

    # the reviews are read once (22 s at 100k users): no later stage changes them. They are read, and
    # checked, before any stage writes: a graph without them must not lose its SIMILAR_TO edges first
    reviews = None
    if "polarity" not in skip:
        with stage("polarity") as d:
            reviews = run_polarity(graph, settings, progress)  # writes nothing where there are no reviews
            d.append(f"{len(reviews)} reviews scored")
        require_reviews(reviews)
    elif "similarity" not in skip or "pm+glm" not in skip:
        reviews = load_reviews(graph)
        require_reviews(reviews)
        # the similarity stage reads the polarity, and so do the PM's LIKES / DISLIKES triples
        if "similarity" not in skip or ("pm+glm" not in skip and cfg.use_polarity):
            require_polarity(reviews)
    similar = None
    if "similarity" not in skip:
        with stage("similarity") as d:
            assert reviews is not None, "read above"
            similar = run_similarity(graph, reviews, settings)
            d.append(f"{len(similar[1])} SIMILAR_TO edges (t_sim={settings.sim_threshold})")
        # the PM's triples reuse these edges when they were computed with the same bounds
        same = cfg.similarity_bounds == TrainConfig.from_settings(settings).similarity_bounds
        similar = similar if same else None
    if "profiles" not in skip and cfg.use_profiles:
        with stage("profiles") as d:
            n_items, n_users, model = run_profiles(graph, settings, progress)
            d.append(f"{n_items} item and {n_users} user profiles ({model})")
    if "text-embeddings" not in skip and cfg.use_profiles:
        with stage("text-embeddings") as d:
            d.append(f"{run_text_embeddings(graph, settings, progress)} profiles embedded")
    if "pm+glm" in skip:
        return report
    with stage("pm+glm") as d:
        kg = load_kg(graph, reviews)
        emb = fit(kg, cfg, progress, settings.torch_device, similar)
        report.version, report.config = emb.version, emb.config  # as sized for this graph
        glm = f"GLM loss {emb.glm_loss[0]:.3f}->{emb.glm_loss[-1]:.3f}" if emb.glm_loss else "GLM untrained"
        sized = emb.config != cfg
        d.append(
            ("large graph: PM with batch negatives (pm_large_graph_triples), " if sized else "")
            + f"PM loss {emb.pm_loss[0]:.3f}->{emb.pm_loss[-1]:.3f}, {glm}, "
            f"{len(emb.user_ids)} users, {len(emb.item_ids)} items, "
            f"user mean pairwise cosine PM {mean_pairwise_cosine(emb.pm_user):.2f} "
            f"GLM {mean_pairwise_cosine(emb.user):.2f} (near 1: collapsed)"
        )
    choice: MethodChoice | None = None
    if choose_method is not None:
        with stage(CHOOSE_STAGE) as d:
            choice = choose_method(kg, emb.config, progress)
            if choice.model == "pm":
                # the PM beat its GLM on validation: serve the PM's vectors, under a version that says so
                emb = replace(emb, user=emb.pm_user, item=emb.pm_item, version=f"{emb.version}{PM_SUFFIX}")
            elif choice.model == "lightgcn":
                # LightGCN beat both: its user vectors go behind the user index (items keep the GLM's, the
                # only ones the unreviewed items have; nothing ranks users against items)
                assert choice.served is not None, "a LightGCN choice carries its user vectors"
                emb = replace(
                    emb,
                    user=_aligned(emb.user_ids, *choice.served),
                    version=f"{emb.version}{LIGHTGCN_SUFFIX}",
                )
            report.version = emb.version
            report.serving_method = choice.detail()
            by_rule = choice.by_model_activity.items()  # each rule at its best activity weight, as compared
            aps = ", ".join(f"{g} {m} {v:.4f}" for g, by in by_rule for m, v in by.items())
            rule = activity_label(choice.method, choice.activity["weight"] if choice.activity else 0.0)
            d.append(
                f"serving {choice.model} embeddings, method {rule} "
                f"({choice.n_validation_tasks} validation tasks"
                + (f"; val AP with the term {aps}" if aps else f"; {choice.reason}")
                + ")"
            )
    if "write-back" not in skip:
        with stage("write-back") as d:
            write_back(graph, emb)
            d.append(f"{USER_EMBEDDING} (dim {cfg.dim}) on users and items, version {emb.version}")
            # the choice made now, else the one recorded for this version by an earlier --choose-method
            serving = (
                serving_of(choice.method, choice.activity)
                if choice is not None
                else recorded_serving(graph, emb.version)
            )
            if serving is not None and serving.activity is not None:
                n = write_activity_index(graph, serving.activity, emb.version)
                d.append(f"and {ACTIVITY_PROPERTY} on {n} users (the served activity term)")
            if choice is not None:
                # recorded last: a failure before it leaves no choice recorded for vectors not written
                record_method(graph, emb.version, choice.method, choice.detail())
            # the model itself, so streamed users are embedded by the model the graph now serves
            if emb.state is not None:
                emb.state.save(artifacts(settings))
                set_current(artifacts(settings), emb.version)
    _save_report(artifacts(settings), report)
    return report


def require_reviews(reviews: Reviews) -> None:
    """Refuse to train on a graph without reviews (before any stage writes), in one line."""
    if len(reviews) == 0:
        raise DataError("the graph has no reviews to train on: run `mokg ingest` first")


def require_polarity(reviews: Reviews) -> None:
    """Refuse reviews without polarity (ingested since the last polarity stage, then ``--skip polarity``):
    they would silently become LIKES whatever their rating."""
    missing = int(np.isnan(reviews.polarity).sum())
    if missing:
        raise DataError(
            f"{missing} of {len(reviews)} reviews have no polarity (ingested since the last polarity stage): "
            "run `mokg train` without `--skip polarity`"
        )


def _aligned(user_ids: Sequence[str], ids: Sequence[str], vectors: np.ndarray) -> np.ndarray:
    """``vectors`` (one row per id in ``ids``) in the order of ``user_ids``, every one of which must have one."""
    row = {u: k for k, u in enumerate(ids)}
    missing = [u for u in user_ids if u not in row]
    if missing:
        raise ValueError(f"{len(missing)} users have no served vector, e.g. {missing[0]!r}")
    return vectors[[row[u] for u in user_ids]]


def artifacts(settings: Settings) -> Path:
    """Where training keeps its reports and models (``$MOKG_HOME/artifacts/glom``)."""
    return settings.home / "artifacts" / "glom"


def _save_report(folder: Path, report: TrainReport) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    body = {
        "version": report.version,
        "config": asdict(report.config),
        "stages": [asdict(s) for s in report.stages],
        "serving_method": report.serving_method,
    }
    (folder / f"{report.version}.json").write_text(json.dumps(body, indent=2))
