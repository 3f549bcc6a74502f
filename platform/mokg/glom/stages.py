"""The stages of GLoM training that read the graph and write their results back (§3.2–3.4, write-back), so
every intermediate result can be queried; :func:`mokg.glom.pipeline.train` runs them in order.

:func:`load_kg` reads what the models learn from (:class:`~mokg.glom.data.KGData`); :func:`write_back` puts
the learned embeddings on the nodes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from mokg.clock import stamp
from mokg.config import Settings
from mokg.glom.data import Embeddings, KGData, Reviews, TrainConfig
from mokg.glom.fitting import Similar, similarity
from mokg.graph import Graph
from mokg.graph.connection import batched
from mokg.polarity import compute_polarity, make_scorer, score_texts
from mokg.progress import Advance, ProgressFactory, no_progress

USER_EMBEDDING = "embedding"


def review_rows(graph: Graph, statement: str) -> list[dict[str, Any]]:
    """A review statement's rows in (user, item, time) order, sorted here because the server cannot
    afford an ORDER BY over every review; the order makes training reproducible."""
    rows = graph.query(statement)
    rows.sort(key=lambda r: (r["user_id"], r["asin"], r["time"] if r["time"] is not None else -1))
    return rows


def run_polarity(graph: Graph, settings: Settings, progress: ProgressFactory = no_progress) -> Reviews:
    """§3.3: sentiment of every review, the item-relative like flag, and p_uv; written onto REVIEWED.
    Returns the reviews with their new polarity, as :func:`load_reviews` would read them back."""
    rows = review_rows(graph, "glom/review_inputs")
    if not rows:
        return Reviews([], [], np.zeros(0), np.zeros(0))
    scorer = make_scorer(settings.sentiment_model)
    texts = [" ".join(t for t in (r["title"], r["text"]) if t) for r in rows]
    sentiment = score_texts(
        scorer, texts, settings.sentiment_workers, advance=progress("sentiment", len(texts))
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
    return _reviews(rows, result.polarity)


def _reviews(rows: list[dict[str, Any]], polarity: Iterable[float | None]) -> Reviews:
    return Reviews(
        [r["user_id"] for r in rows],
        [r["asin"] for r in rows],
        np.array([r["rating"] for r in rows], dtype=np.float64),
        np.array([np.nan if p is None else p for p in polarity], dtype=np.float64),
    )


def run_similarity(graph: Graph, reviews: Reviews, settings: Settings) -> Similar:
    """§3.4 over ``reviews`` with the settings' bounds, written as SIMILAR_TO (replacing the old edges);
    returns the edges, which the PM's triples reuse."""
    users, edges = similarity(reviews, TrainConfig.from_settings(settings))
    # a recomputation replaces the old edges: a threshold change must not leave stale ones behind
    while graph.execute("glom/delete_similar_to", limit=10_000)[0]["n"]:
        pass
    write_similar_to(
        graph,
        (
            {"src": users[a], "dst": users[b], "sim": float(s), "n": int(n)}
            for a, b, s, n in zip(edges.src, edges.dst, edges.sim, edges.n_co_rated, strict=True)
        ),
    )
    return users, edges


def write_similar_to(graph: Graph, edges: Iterable[dict[str, Any]]) -> int:
    """Write ``{src, dst, sim, n}`` SIMILAR_TO rows (merged: an edge already there gets the new values),
    a batch per statement; returns the edges written. Each batch's users are matched once and its edges reach
    them by position (``glom/merge_similar_to``): 1.08M edges at 100k users took 179 s as two index lookups
    and a MERGE per edge, 48 s so. A batch with a user missing from the graph raises, naming the user."""
    written = 0
    for batch in batched(edges, graph.settings.batch_size):
        users, rows = similar_positions(batch)
        n = graph.write_batches("glom/merge_similar_to", rows, batch_size=len(rows), users=users).returned
        written += checked_similar(graph, users, rows, n)
    return written


def similar_positions(edges: Iterable[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """The ``$users`` and ``$rows`` of ``glom/merge_similar_to`` for ``{src, dst, sim, n}`` edges: their
    distinct users, and each edge with the positions ``a`` and ``b`` of its users there."""
    rows = list(edges)
    users = sorted({r["src"] for r in rows} | {r["dst"] for r in rows})
    at = {u: k for k, u in enumerate(users)}
    return users, [{**r, "a": at[r["src"]], "b": at[r["dst"]]} for r in rows]


def checked_similar(graph: Graph, users: list[str], rows: list[dict[str, Any]], written: int) -> int:
    """``written``, once sure every row was: a row whose user is missing is skipped by the statement."""
    if written < len(rows):
        found = {r["user_id"] for r in graph.query("glom/users_by_id", ids=users)}
        missing = sorted(set(users) - found)[:5]
        raise RuntimeError(
            f"SIMILAR_TO: {len(rows) - written} of a batch of {len(rows)} edges were not written: user(s) "
            f"{', '.join(missing) or '?'} not in the graph (the batch's other edges were written)"
        )
    return written


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
                reviews=review_sample(r["reviews"]),
            ),
            category=_leaf(r["category"]),
            seed=settings.seed,
        )
        for r in graph.query("glom/item_profile_inputs")
    ]


# the reviews an item prompt quotes
REVIEWS_PER_ITEM = 20


def review_sample(reviews: Iterable[dict[str, Any]], n: int = REVIEWS_PER_ITEM) -> tuple[str, ...]:
    """The texts of an item's ``n`` earliest reviews (by time, then user, then text), whatever order the
    server collected them in: the same prompt, and cached profile, at every run."""
    ordered = sorted(
        reviews, key=lambda v: (v["time"] if v["time"] is not None else -1, v["user_id"], v["text"])
    )
    return tuple(v["text"] for v in ordered[:n])


def user_prompts(graph: Graph, settings: Settings) -> list[Any]:
    """§3.2.1: M_u from each user's items, quoting the item profiles already on the graph."""
    from mokg.glom.profiles import UserInfo, UserItem, user_prompt

    prompts = []
    for r in graph.query("glom/user_profile_inputs"):
        # the server collects a user's items unordered: sorted here, so the prompt (and its cached profile)
        # and the category of its guideline are the same at every run
        items = sorted(r["items"], key=_user_item_key)
        info = UserInfo(
            user_id=r["user_id"],
            items=tuple(
                UserItem(
                    item_id=i["asin"],
                    title=i["title"] or i["asin"],
                    item_profile=i["profile"] or "",
                    review=" ".join(t for t in (i["review_title"], i["review"]) if t),
                )
                for i in items
            ),
        )
        category = _leaf(next((i["category"] for i in items if i["category"]), None))
        prompts.append(user_prompt(info, category=category, seed=settings.seed))
    return prompts


def _user_item_key(item: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(item[k] or "") for k in ("asin", "category", "review_title", "review", "title"))


def run_profiles(
    graph: Graph, settings: Settings, progress: ProgressFactory = no_progress
) -> tuple[int, int, str]:
    """§3.2: LLM item profiles, then user profiles that quote them. Cached: a re-run regenerates nothing.
    Returns the counts and the model label that generated them (:func:`~mokg.llm.local.profile_backend`)."""
    from mokg.glom.profiles import generate_profiles
    from mokg.llm.local import profile_backend

    client = profile_backend(settings, progress)
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
    return done[0], done[1], client.model


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


def load_reviews(graph: Graph) -> Reviews:
    rows = review_rows(graph, "glom/review_polarity")
    return _reviews(rows, (r["polarity"] for r in rows))


def load_kg(graph: Graph, reviews: Reviews | None = None) -> KGData:
    """What the models learn from; ``reviews`` already read (:func:`load_reviews`) are not read again (22 s
    at 100k users)."""
    if reviews is None:
        reviews = load_reviews(graph)
    profiles = {
        r["key"]: np.asarray(r["vector"], dtype=np.float32) for r in graph.query("glom/profile_embeddings")
    }
    return KGData(
        reviews=reviews,
        items=[r["asin"] for r in graph.query("glom/all_items")],
        # sorted here, as the reviews are: the server returns the links unordered, and their order is the
        # triples' order, so an unsorted read changes the embeddings of the same version
        supkg=sorted((r["item"], r["rel"], r["target"]) for r in graph.query("glom/supkg_triples")),
        profiles=profiles,
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
                        "embedding_source": "train",
                    },
                }
                for k, g, p in zip(ids, glm_vecs, pm_vecs, strict=True)
            ),
            batch_size=500,
        )
