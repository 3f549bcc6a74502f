"""One graph for the serving tests (expansion, API, schemathesis, browser), built once per test process.

The real Gift_Cards data ingested into a database of its own on the session's ArcadeDB, plus what training and
PAIR would add: deterministic user embeddings (the sum of a fixed random vector per reviewed item, so users
with shared items are neighbours) written through ``glom/set_user_properties`` behind the dialect's vector
index, a few SIMILAR_TO edges, two MoKG triples (through PAIR's write statement), and three reviewed items filed under a second category so the
category filter has something to separate. One user is left without an embedding.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from conftest import GIFT_META, GIFT_REVIEWS

from mokg.config import Settings
from mokg.glom.stages import write_similar_to
from mokg.graph import Graph
from mokg.graph.schema import apply_schema
from mokg.ingest import ingest
from mokg.stack.services import scratch_database

DIM = 32
VERSION = "test-v1"
STARBUCKS = "B00AR51Y5I"  # the most reviewed item (94 buyers)
ACCESSORY_PATH = "Gift Cards > Gift Card Accessories"
ENTITY = "coffee lover"
ENTITY_KEY = "Audience:coffee-lover"


@dataclass(frozen=True)
class Served:
    settings: Settings
    user_ids: tuple[str, ...]  # users with an embedding, sorted
    embeddings: np.ndarray  # aligned with user_ids, unit rows
    no_embedding: str  # a user left without one
    items_of: dict[str, frozenset[str]]
    accessory_items: tuple[str, ...]
    similar_pairs: tuple[tuple[str, str], ...]


def _embeddings(items_of: dict[str, frozenset[str]]) -> dict[str, np.ndarray]:
    asins = sorted({a for s in items_of.values() for a in s})
    rng = np.random.default_rng(7)
    basis = dict(zip(asins, rng.standard_normal((len(asins), DIM)), strict=True))
    out = {}
    for u, items in items_of.items():
        v = np.sum([basis[a] for a in sorted(items)], axis=0)
        out[u] = v / np.linalg.norm(v)
    return out


@functools.cache
def served_graph(server: Settings, tmp: Path) -> Served:
    settings = scratch_database(server, "served")
    with Graph(settings) as g:
        apply_schema(g)
        ingest(g, reviews=GIFT_REVIEWS, meta=GIFT_META, rejects_path=tmp / "served.rejects.jsonl")
        rows = g.run_text(
            "MATCH (u:User)-[:REVIEWED]->(i:Item) RETURN u.user_id AS u, collect(i.asin) AS items",
            {},
            read_only=True,
        )
        items_of = {str(r["u"]): frozenset(r["items"]) for r in rows}
        users = sorted(items_of)
        no_embedding = users[0]
        vectors = _embeddings(items_of)
        g.dialect.create_vector_index(g, "User", "embedding", DIM)
        g.write_batches(
            "glom/set_user_properties",
            (
                {
                    "key": u,
                    "props": {
                        "embedding": vectors[u].tolist(),
                        "embedding_version": VERSION,
                        "embedding_at": "2026-01-01T00:00:00.000000Z",
                    },
                }
                for u in users[1:]
            ),
        )
        # three reviewed items also filed under the accessories category (category filter tests)
        reviewed = sorted({a for s in items_of.values() for a in s})
        accessory_items = tuple(reviewed[:3])
        g.write_batches(
            "ingest/merge_item_categories", [{"asin": a, "path": ACCESSORY_PATH} for a in accessory_items]
        )
        # SIMILAR_TO edges between each Starbucks buyer pair sharing at least 3 items (a few dozen)
        buyers = sorted(u for u in users if STARBUCKS in items_of[u])
        pairs = tuple(
            (a, b)
            for i, a in enumerate(buyers)
            for b in buyers[i + 1 :]
            if len(items_of[a] & items_of[b]) >= 3
        )[:40]
        write_similar_to(
            g, [{"src": a, "dst": b, "sim": 0.8, "n": len(items_of[a] & items_of[b])} for a, b in pairs]
        )
        # two MoKG triples, written as PAIR writes them (mokg.pair.store.write_triples' statement)
        for asin in (STARBUCKS, "B004Q7CK9M"):
            (source,) = g.run_text(
                "MATCH (i:Item {asin: $a}) RETURN elementId(i) AS id", {"a": asin}, read_only=True
            )
            props = {"votes": 3, "vote_share": 0.75, "plausibility": 0.91, "score": 0.88, "matched_by": "new",
                     "prompt_ids": ["p1", "p2"], "model": "test-llm", "scorer": "test-scorer",
                     "at": "2026-01-01T00:00:00.000000Z", "run_id": "run-test"}  # fmt: skip
            g.write_batches(
                "mokg/merge_mined_new",
                [
                    {
                        "relation": "TARGET_AUDIENCE",
                        "key": ENTITY_KEY,
                        "name": ENTITY,
                        "type": "Audience",
                        "at": props["at"],
                        "run_id": props["run_id"],
                        "props": props,
                    }
                ],
                source=source["id"],
            )
    return Served(
        settings=settings,
        user_ids=tuple(users[1:]),
        embeddings=np.array([vectors[u] for u in users[1:]]),
        no_embedding=no_embedding,
        items_of=items_of,
        accessory_items=accessory_items,
        similar_pairs=pairs,
    )
