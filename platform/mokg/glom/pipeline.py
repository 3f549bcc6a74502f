"""The GLoM training pipeline (§3.2–3.7) over the graph, as PyKEEN's ``pipeline()`` is over its parts.

Each stage reads the graph and writes its result back, so every intermediate result can be queried:

1. polarity (§3.3)      ``REVIEWED.sentiment / like / polarity``
2. similarity (§3.4)    ``(:User)-[:SIMILAR_TO {sim, n_co_rated}]->(:User)``
3. profiles (§3.2)      ``profile, profile_model, profile_prompt_hash, profile_at`` on users and items (LLM)
4. text embeddings      ``profile_embedding`` (§3.2.4, sentence-transformers)
5. PM (§3.5) and GLM (§3.6–3.7), trained in memory from :class:`KGData`
6. write-back           ``embedding`` (GLM), ``pm_embedding``, ``embedding_version``, ``embedding_at``, and
                        vector indexes on ``User(embedding)`` and ``Item(embedding)``

:func:`fit` is pure (KGData in, embeddings out) so the evaluation can train every variant on a training
split without touching the graph; :func:`train` composes the stages for `mokg train`.

Decisions:

* Reviews become ``LIKES`` when their polarity is ≥ 0 and ``DISLIKES`` otherwise ("split by polarity"); the
  paper's item-relative like flag is stored on the review for analysts. Without polarity (ablation) every
  review is one ``REVIEWED`` relation.
* Similarity edges used for training are computed from the training reviews themselves, never read back
  from the graph, so held-out reviews cannot leak through them.
* Entity ids are namespaced by type (``u:``, ``i:``, ``c:``, ``s:``) so a user id can never collide with an ASIN.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mokg.clock import stamp
from mokg.config import Settings
from mokg.glom.aggregators import Aggregator
from mokg.glom.glm import GLMResult, train_glm
from mokg.glom.pretrain import PretrainResult, train_pretrained
from mokg.glom.triples import KGTriples, build_triples
from mokg.graph import Graph
from mokg.lookalike.audience import MethodChoice, record_method
from mokg.lookalike.scoring import mean_pairwise_cosine
from mokg.polarity import SimilarityEdges, compute_polarity, make_scorer, user_similarity
from mokg.progress import Advance, ProgressFactory, no_progress

USER_EMBEDDING = "embedding"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the learned embeddings; its hash names the model version."""

    aggregator: Aggregator = "attn1"
    dim: int = 64
    layers: int = 1  # 2 lowered validation AP on Gift_Cards and All_Beauty (README, "GLM stage")
    pm_epochs: int = 100
    glm_epochs: int = 50
    lr_pm: float = 0.01
    lr_glm: float = 0.005
    margin: float = 1.0
    glm_bias: bool = True
    glm_combine: str = "last"
    glm_norm: str = "none"
    glm_negatives: str = "all"
    glm_relational: bool = True  # Eq. 9 as the PM's translation ||h_U + r − h_I|| (README, "GLM stage")
    glm_user_pairs: bool = False
    use_profiles: bool = True
    use_polarity: bool = True
    use_similarity: bool = True
    use_pretrain: bool = True
    t_sim: float = 0.5
    min_co_rated: int = 2
    sim_top_k: int = 20  # 0: no bound
    seed: int = 7

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> TrainConfig:
        """The similarity bounds and the seed from the settings (``MOKG_SIM_*``, ``MOKG_SEED``), then
        ``overrides`` (a ``None`` override keeps the settings' value)."""
        base = {
            "t_sim": settings.sim_threshold,
            "min_co_rated": settings.sim_min_co_rated,
            "sim_top_k": settings.sim_top_k,
            "seed": settings.seed,
        }
        return cls(**base | {k: v for k, v in overrides.items() if v is not None})

    @property
    def version(self) -> str:
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]
        return f"glom-{self.aggregator}-d{self.dim}-{digest}"


@dataclass
class Reviews:
    """One row per review; ``polarity`` is NaN where it was not computed."""

    user: list[str]
    item: list[str]
    rating: np.ndarray
    polarity: np.ndarray

    def __len__(self) -> int:
        return len(self.user)

    def mask(self, keep: np.ndarray) -> Reviews:
        idx = np.flatnonzero(keep)
        return Reviews(
            [self.user[i] for i in idx], [self.item[i] for i in idx], self.rating[idx], self.polarity[idx]
        )


@dataclass
class KGData:
    """What the models learn from, read from the graph once."""

    reviews: Reviews
    items: list[str]  # every item ASIN, reviewed or not
    supkg: list[tuple[str, str, str]]  # (asin, IN_CATEGORY|SOLD_BY|ALSO_BOUGHT, namespaced target)
    profiles: dict[str, np.ndarray] = field(default_factory=dict)  # "u:ID" / "i:ASIN" -> text embedding

    def without_reviews(self, pairs: set[tuple[str, str]]) -> KGData:
        """The same graph minus every review of the given (user, item) pairs (held-out edges)."""
        keep = np.array(
            [(u, i) not in pairs for u, i in zip(self.reviews.user, self.reviews.item, strict=True)]
        )
        return replace(self, reviews=self.reviews.mask(keep))


@dataclass
class Embeddings:
    version: str
    user_ids: list[str]
    item_ids: list[str]
    user: np.ndarray  # GLM output (the lookalike embedding)
    item: np.ndarray
    pm_user: np.ndarray
    pm_item: np.ndarray
    pm_loss: list[float]
    glm_loss: list[float]
    n_similar: int


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


# -- stages over the graph ---------------------------------------------------------------------------


def review_rows(graph: Graph, statement: str) -> list[dict[str, Any]]:
    """A review statement's rows in (user, item, time) order, sorted here because the server cannot
    afford an ORDER BY over every review; the order makes training reproducible."""
    rows = graph.query(statement)
    rows.sort(key=lambda r: (r["user_id"], r["asin"], r["time"] if r["time"] is not None else -1))
    return rows


def run_polarity(graph: Graph, settings: Settings, progress: ProgressFactory = no_progress) -> int:
    """§3.3: sentiment of every review, the item-relative like flag, and p_uv; written onto REVIEWED."""
    rows = review_rows(graph, "glom/review_inputs")
    if not rows:
        return 0
    scorer = make_scorer(settings.sentiment_model)
    texts = [" ".join(t for t in (r["title"], r["text"]) if t) for r in rows]
    advance = progress("sentiment", len(texts))
    sentiment = np.concatenate(
        [_scored(scorer, texts[i : i + 512], advance, i) for i in range(0, len(texts), 512)]
    )
    items = {a: k for k, a in enumerate(sorted({r["asin"] for r in rows}))}
    result = compute_polarity(
        [items[r["asin"]] for r in rows],
        [r["rating"] for r in rows],
        sentiment,
        alpha=settings.polarity_alpha,
    )
    graph.write_batches(
        "glom/set_review_polarity",
        (
            {
                "user_id": r["user_id"],
                "asin": r["asin"],
                "time": r["time"],
                "sentiment": float(s),
                "like": bool(lk),
                "polarity": float(p),
            }
            for r, s, lk, p in zip(rows, result.sentiment, result.like, result.polarity, strict=True)
        ),
    )
    return len(rows)


def _scored(scorer: Any, texts: list[str], advance: Any, done: int) -> np.ndarray:
    out = np.asarray(scorer.score(texts), dtype=np.float64)
    advance(done + len(texts))
    return out


def similarity(
    reviews: Reviews, *, t_sim: float, min_co_rated: int, top_k: int = 0
) -> tuple[list[str], SimilarityEdges]:
    """§3.4 over the given reviews' polarity (ratings stand in where polarity is missing)."""
    users = sorted(set(reviews.user))
    items = sorted(set(reviews.item))
    u_idx = {u: k for k, u in enumerate(users)}
    i_idx = {i: k for k, i in enumerate(items)}
    pol = np.where(np.isnan(reviews.polarity), (reviews.rating - 3.0) / 2.0, reviews.polarity)
    edges = user_similarity(
        [u_idx[u] for u in reviews.user],
        [i_idx[i] for i in reviews.item],
        pol,
        len(users),
        len(items),
        t_sim=t_sim,
        min_co_rated=min_co_rated,
        top_k=top_k or None,
    )
    return users, edges


def run_similarity(graph: Graph, reviews: Reviews, settings: Settings) -> int:
    users, edges = similarity(
        reviews,
        t_sim=settings.sim_threshold,
        min_co_rated=settings.sim_min_co_rated,
        top_k=settings.sim_top_k,
    )
    # a recomputation replaces the old edges: a threshold change must not leave stale ones behind
    while graph.execute("glom/delete_similar_to", limit=10_000)[0]["n"]:
        pass
    graph.write_batches(
        "glom/merge_similar_to",
        (
            {"src": users[a], "dst": users[b], "sim": float(s), "n": int(n)}
            for a, b, s, n in zip(edges.src, edges.dst, edges.sim, edges.n_co_rated, strict=True)
        ),
    )
    return len(edges)


def item_prompts(graph: Graph, settings: Settings) -> list[Any]:
    """§3.2.2: M_v for every reviewed item, with the guideline S_v of its top-level category."""
    from mokg.glom.profiles import ItemInfo, item_prompt

    return [
        item_prompt(
            ItemInfo(
                item_id=r["asin"],
                title=r["title"] or r["asin"],
                description=" ".join(t for t in (r["description"], r["features"]) if t),
                attributes=_attributes(r),
                reviews=tuple(r["reviews"]),
            ),
            category=_leaf(r["category"]),
            seed=settings.seed,
        )
        for r in graph.query("glom/item_profile_inputs", reviews_per_item=20)
    ]


def user_prompts(graph: Graph, settings: Settings) -> list[Any]:
    """§3.2.1: M_u from each user's items, quoting the item profiles already on the graph."""
    from mokg.glom.profiles import UserInfo, UserItem, user_prompt

    return [
        user_prompt(
            UserInfo(
                user_id=r["user_id"],
                items=tuple(
                    UserItem(
                        item_id=i["asin"],
                        title=i["title"] or i["asin"],
                        item_profile=i["profile"] or "",
                        review=" ".join(t for t in (i["review_title"], i["review"]) if t),
                    )
                    for i in r["items"]
                ),
            ),
            category=_leaf(next((i["category"] for i in r["items"] if i["category"]), None)),
            seed=settings.seed,
        )
        for r in graph.query("glom/user_profile_inputs")
    ]


def run_profiles(
    graph: Graph, settings: Settings, progress: ProgressFactory = no_progress
) -> tuple[int, int]:
    """§3.2: LLM item profiles, then user profiles that quote them. Cached: a re-run regenerates nothing."""
    from mokg.glom.profiles import generate_profiles
    from mokg.llm import LLMClient

    client = LLMClient(settings)
    now = stamp()
    done = []
    # items first: the user prompts quote the item profiles
    for kind, build, statement in (
        ("item", item_prompts, "glom/set_item_profiles"),
        ("user", user_prompts, "glom/set_user_profiles"),
    ):
        prompts = build(graph, settings)
        advance = progress(f"{kind} profiles", len(prompts))
        profiles = generate_profiles(client, prompts, progress=_done_of(advance))
        graph.write_batches(statement, (_profile_row(p, now) for p in profiles))
        done.append(len(profiles))
    return done[0], done[1]


def _done_of(advance: Advance) -> Callable[[int, int], None]:
    """Adapt the LLM client's ``progress(done, total)`` to an ``advance(done)``."""
    return lambda done, _total: advance(done)


def _attributes(row: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    attrs: list[tuple[str, str]] = []
    if row["store"]:
        attrs.append(("Brand", row["store"]))
    if row["details"]:
        attrs.extend((k, str(v)) for k, v in json.loads(row["details"]).items() if k != "ASIN")
    return tuple(attrs)


def _leaf(path: str | None) -> str:
    # the guideline is chosen by the top-level category of the path
    return path.split(" > ")[0] if path else ""


def _profile_row(p: Any, at: str) -> dict[str, Any]:
    return {"key": p.entity_id, "text": p.text, "model": p.model, "prompt_hash": p.prompt_hash, "at": at}


def run_text_embeddings(graph: Graph, settings: Settings, progress: ProgressFactory = no_progress) -> int:
    """§3.2.4: a fixed-size embedding of every profile, stored as ``profile_embedding``."""
    from mokg.llm.embeddings import TextEmbedder

    rows = graph.query("glom/profiles")
    if not rows:
        return 0
    embedder = TextEmbedder.from_settings(settings)
    advance = progress("text embeddings", len(rows))
    vectors = embedder.encode([r["text"] for r in rows])
    advance(len(rows))
    for label, statement in (("User", "glom/set_user_properties"), ("Item", "glom/set_item_properties")):
        graph.write_batches(
            statement,
            (
                {"key": r["key"], "props": {"profile_embedding": v.tolist()}}
                for r, v in zip(rows, vectors, strict=True)
                if r["label"] == label
            ),
        )
    return len(rows)


def load_kg(graph: Graph) -> KGData:
    rows = review_rows(graph, "glom/review_polarity")
    reviews = Reviews(
        [r["user_id"] for r in rows],
        [r["asin"] for r in rows],
        np.array([r["rating"] for r in rows], dtype=np.float64),
        np.array([np.nan if r["polarity"] is None else r["polarity"] for r in rows], dtype=np.float64),
    )
    profiles = {
        r["key"]: np.asarray(r["vector"], dtype=np.float32) for r in graph.query("glom/profile_embeddings")
    }
    return KGData(
        reviews=reviews,
        items=[r["asin"] for r in graph.query("glom/all_items")],
        supkg=[(r["item"], r["rel"], r["target"]) for r in graph.query("glom/supkg_triples")],
        profiles=profiles,
    )


# -- the models ---------------------------------------------------------------------------------------


def kg_triples(kg: KGData, cfg: TrainConfig) -> tuple[KGTriples, list[str], int]:
    """The typed triples of §3.5 for ``cfg``'s ablations; also the user ids and the SIMILAR_TO count."""
    users = sorted(set(kg.reviews.user))
    entities = [(f"u:{u}", "user") for u in users] + [(f"i:{i}", "item") for i in kg.items]
    entities += [(t, "category" if t.startswith("c:") else "store") for _, _, t in kg.supkg if t[0] in "cs"]
    triples: list[tuple[str, str, str]] = []
    for u, i, p in zip(kg.reviews.user, kg.reviews.item, kg.reviews.polarity, strict=True):
        rel = "REVIEWED" if not cfg.use_polarity else ("DISLIKES" if p < 0 else "LIKES")
        triples.append((f"u:{u}", rel, f"i:{i}"))
    n_similar = 0
    if cfg.use_similarity:
        sim_users, edges = similarity(
            kg.reviews, t_sim=cfg.t_sim, min_co_rated=cfg.min_co_rated, top_k=cfg.sim_top_k
        )
        triples += [
            (f"u:{sim_users[a]}", "SIMILAR_TO", f"u:{sim_users[b]}")
            for a, b in zip(edges.src, edges.dst, strict=True)
        ]
        n_similar = len(edges)
    triples += [(f"i:{a}", rel, t) for a, rel, t in kg.supkg]
    known = {e for e, _ in entities}
    profiles = {k: torch.from_numpy(v) for k, v in kg.profiles.items() if cfg.use_profiles and k in known}
    return build_triples(entities, triples, profiles=profiles or None), users, n_similar


def fit_pm(
    kgt: KGTriples, cfg: TrainConfig, progress: ProgressFactory = no_progress, device: str = "cpu"
) -> PretrainResult:
    advance = progress("PM epochs", cfg.pm_epochs)
    return train_pretrained(
        kgt,
        dim=cfg.dim,
        epochs=cfg.pm_epochs,
        lr=cfg.lr_pm,
        margin=cfg.margin,
        seed=cfg.seed,
        use_profiles=cfg.use_profiles and kgt.has_profile is not None,
        device=device,
        progress=lambda epoch, loss: advance(epoch),
    )


def fit_glm(
    kgt: KGTriples,
    pm: PretrainResult | None,
    cfg: TrainConfig,
    progress: ProgressFactory = no_progress,
    device: str = "cpu",
) -> GLMResult:
    """GLM from the PM (or, for the "w/o PM" ablation, from trained random embeddings)."""
    advance = progress(f"GLM-{cfg.aggregator} epochs", cfg.glm_epochs)
    return train_glm(
        kgt,
        pm if cfg.use_pretrain else None,
        aggregator=cfg.aggregator,
        layers=cfg.layers,
        epochs=cfg.glm_epochs,
        lr=cfg.lr_glm,
        margin=cfg.margin,
        seed=cfg.seed,
        dim=cfg.dim,
        train_embeddings=not cfg.use_pretrain,
        bias=cfg.glm_bias,
        combine=cfg.glm_combine,  # type: ignore[arg-type]
        norm=cfg.glm_norm,  # type: ignore[arg-type]
        negatives=cfg.glm_negatives,  # type: ignore[arg-type]
        relational=cfg.glm_relational,
        user_pairs=cfg.glm_user_pairs,
        device=device,
        progress=lambda epoch, loss: advance(epoch),
    )


def rows_of(kgt: KGTriples, keys: Sequence[str]) -> torch.Tensor:
    index = {e: k for k, e in enumerate(kgt.entity_ids or [])}
    return torch.tensor([index[k] for k in keys], dtype=torch.long)


def fit(
    kg: KGData, cfg: TrainConfig, progress: ProgressFactory = no_progress, device: str = "cpu"
) -> Embeddings:
    """PM then GLM on ``kg`` (pure: no graph access) on ``device``. Reproducible for ``cfg.seed`` on the CPU."""
    torch.manual_seed(cfg.seed)
    kgt, users, n_similar = kg_triples(kg, cfg)
    pm = fit_pm(kgt, cfg, progress, device)
    glm = fit_glm(kgt, pm, cfg, progress, device)
    u_rows = rows_of(kgt, [f"u:{u}" for u in users])
    i_rows = rows_of(kgt, [f"i:{i}" for i in kg.items])
    return Embeddings(
        version=cfg.version,
        user_ids=users,
        item_ids=list(kg.items),
        user=glm.node_embeddings[u_rows].numpy(),
        item=glm.node_embeddings[i_rows].numpy(),
        pm_user=pm.entity_embeddings[u_rows].numpy(),
        pm_item=pm.entity_embeddings[i_rows].numpy(),
        pm_loss=pm.loss_history,
        glm_loss=glm.loss_history,
        n_similar=n_similar,
    )


def write_back(graph: Graph, emb: Embeddings) -> None:
    """Embeddings onto the nodes, behind vector indexes (created first: ArcadeDB types the property)."""
    dim = emb.user.shape[1]
    for label in ("User", "Item"):
        graph.dialect.create_vector_index(graph, label, USER_EMBEDDING, dim)
    at = stamp()
    for statement, ids, glm_vecs, pm_vecs in (
        ("glom/set_user_properties", emb.user_ids, emb.user, emb.pm_user),
        ("glom/set_item_properties", emb.item_ids, emb.item, emb.pm_item),
    ):
        graph.write_batches(
            statement,
            (
                {
                    "key": k,
                    "props": {
                        USER_EMBEDDING: g.astype(float).tolist(),
                        "pm_embedding": p.astype(float).tolist(),
                        "embedding_version": emb.version,
                        "embedding_at": at,
                    },
                }
                for k, g, p in zip(ids, glm_vecs, pm_vecs, strict=True)
            ),
            batch_size=500,
        )


# -- the whole pipeline ----------------------------------------------------------------------------------


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
    write-back picks the served embeddings (GLM, or the PM when it scores higher) and the scoring method on
    validation tasks (one more PM+GLM fit, without the validation tasks' held-out reviews), and records the
    method on a ``:Model {version}`` node, which ``mokg expand`` and ``POST /v1/lookalike`` use when a
    request names no method; also in the report. Serving the PM's vectors adds ``+pm`` to the version."""
    unknown = set(skip) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stage(s) to skip: {sorted(unknown)}; stages are {', '.join(STAGES)}")
    torch.set_num_threads(settings.torch_threads)
    report = TrainReport(cfg.version, cfg)

    @contextmanager
    def stage(name: str) -> Iterator[list[str]]:
        detail: list[str] = []
        t0 = time.perf_counter()
        yield detail
        report.stages.append(StageTiming(name, time.perf_counter() - t0, " ".join(detail)))

    if "polarity" not in skip:
        with stage("polarity") as d:
            d.append(f"{run_polarity(graph, settings, progress)} reviews scored")
    if "similarity" not in skip:
        with stage("similarity") as d:
            n = run_similarity(graph, load_kg(graph).reviews, settings)
            d.append(f"{n} SIMILAR_TO edges (t_sim={settings.sim_threshold})")
    if "profiles" not in skip and cfg.use_profiles:
        with stage("profiles") as d:
            n_items, n_users = run_profiles(graph, settings, progress)
            d.append(f"{n_items} item and {n_users} user profiles ({settings.llm_model})")
    if "text-embeddings" not in skip and cfg.use_profiles:
        with stage("text-embeddings") as d:
            d.append(f"{run_text_embeddings(graph, settings, progress)} profiles embedded")
    if "pm+glm" in skip:
        return report
    with stage("pm+glm") as d:
        emb = fit(load_kg(graph), cfg, progress, settings.torch_device)
        d.append(
            f"PM loss {emb.pm_loss[0]:.3f}->{emb.pm_loss[-1]:.3f}, "
            f"GLM loss {emb.glm_loss[0]:.3f}->{emb.glm_loss[-1]:.3f}, "
            f"{len(emb.user_ids)} users, {len(emb.item_ids)} items, "
            f"user mean pairwise cosine PM {mean_pairwise_cosine(emb.pm_user):.2f} "
            f"GLM {mean_pairwise_cosine(emb.user):.2f} (near 1: collapsed)"
        )
    if choose_method is not None:
        with stage(CHOOSE_STAGE) as d:
            choice = choose_method(load_kg(graph), cfg, progress)
            if choice.model == "pm":
                # the PM beat its GLM on validation: serve the PM's vectors, under a version that says so
                emb = replace(emb, user=emb.pm_user, item=emb.pm_item, version=f"{emb.version}+pm")
                report.version = emb.version
            record_method(graph, emb.version, choice.method, choice.detail())
            report.serving_method = choice.detail()
            aps = ", ".join(f"{g} {m} {v:.4f}" for g, by in choice.by_model.items() for m, v in by.items())
            d.append(
                f"serving {choice.model} embeddings, method {choice.method} "
                f"({choice.n_validation_tasks} validation tasks"
                + (f"; val AP {aps}" if aps else f"; {choice.reason}")
                + ")"
            )
    if "write-back" not in skip:
        with stage("write-back") as d:
            write_back(graph, emb)
            d.append(f"{USER_EMBEDDING} (dim {cfg.dim}) on users and items, version {emb.version}")
    _save_report(settings.home / "artifacts" / "glom", report)
    return report


def _save_report(folder: Path, report: TrainReport) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    body = {
        "version": report.version,
        "config": asdict(report.config),
        "stages": [asdict(s) for s in report.stages],
        "serving_method": report.serving_method,
    }
    (folder / f"{report.version}.json").write_text(json.dumps(body, indent=2))
