"""Lookalike expansion against the real graph: seeds and exclusions never come back, k and T behave, unknown
seeds are reported, per-seed searches batch, and the graph's answers equal a brute-force numpy computation."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, GIFT_META, GIFT_REVIEWS, run_mokg
from served_graph import ACCESSORY_PATH, ENTITY, STARBUCKS, Served

from mokg.config import Settings
from mokg.graph import Graph
from mokg.graph.schema import apply_schema
from mokg.ingest import ingest
from mokg.lookalike import audience
from mokg.lookalike.activity_index import activity_inputs, write_activity_index
from mokg.lookalike.audience import (
    LOGREG_MAX_BACKGROUND,
    AudienceError,
    AudienceRequest,
    EmbeddingsUnavailable,
    Filters,
    SeedCache,
    Seeds,
    Serving,
    UnknownItem,
    expand_audience,
    record_method,
    recorded_method,
    recorded_serving,
    seed_query_names,
    top_categories,
)
from mokg.lookalike.scoring import ActivityTerm, fit_logreg, score_centroid, score_max_seed
from mokg.stack.services import scratch_database

pytestmark = pytest.mark.integration
METHODS = ("centroid", "knn_vote", "max_seed", "logreg")


@pytest.fixture(scope="module")
def graph(served: Served) -> Graph:
    with Graph(served.settings) as g:
        yield g


def _seeds(served: Served, n: int, offset: int = 0) -> tuple[str, ...]:
    return served.user_ids[offset : offset + 5 * n : 5]


def _brute(served: Served, seeds: tuple[str, ...], banned: set[str], method: str) -> dict[str, float]:
    idx = {u: i for i, u in enumerate(served.user_ids)}
    pool = [i for i, u in enumerate(served.user_ids) if u not in banned]
    fn = score_centroid if method == "centroid" else score_max_seed
    scores = fn(served.embeddings, [idx[s] for s in seeds], pool)
    return {served.user_ids[i]: float(s) for i, s in zip(pool, scores, strict=True)}


@pytest.mark.parametrize("method", METHODS)
def test_never_returns_seeds_or_excluded_and_k_is_exact(graph: Graph, served: Served, method: str) -> None:
    seeds = _seeds(served, 20)
    exclude = served.user_ids[1:60:3]
    a = expand_audience(graph, AudienceRequest(Seeds(user_ids=seeds), k=25, method=method, exclude=exclude))
    got = [m.user_id for m in a.users]
    assert len(got) == 25 == a.stats.n_returned
    assert not set(got) & (set(seeds) | set(exclude))
    assert [m.rank for m in a.users] == list(range(1, 26))
    scores = [m.score for m in a.users]
    assert scores == sorted(scores, reverse=True)
    assert a.model_version == "test-v1"


@pytest.mark.parametrize("method", ["centroid", "max_seed"])
def test_top_k_equals_brute_force(graph: Graph, served: Served, method: str) -> None:
    seeds = _seeds(served, 10, offset=2)
    a = expand_audience(graph, AudienceRequest(Seeds(user_ids=seeds), k=15, method=method))
    want = _brute(served, seeds, set(seeds), method)
    best = sorted(want.items(), key=lambda x: (-x[1], x[0]))[:15]
    assert [m.user_id for m in a.users] == [u for u, _ in best]
    assert [m.score for m in a.users] == pytest.approx([s for _, s in best], abs=1e-4)


@pytest.mark.parametrize("method", ["centroid", "max_seed"])
def test_threshold_returns_exactly_the_users_above_it(graph: Graph, served: Served, method: str) -> None:
    seeds = _seeds(served, 4, offset=7)
    want = _brute(served, seeds, set(seeds), method)
    t = float(np.quantile(list(want.values()), 0.8))  # about 90 users
    a = expand_audience(graph, AudienceRequest(Seeds(user_ids=seeds), k=None, threshold=t, method=method))
    assert {m.user_id for m in a.users} == {u for u, s in want.items() if s >= t}
    assert a.stats.complete and a.stats.threshold == t
    # k and T together: at most k, all above T
    both = expand_audience(graph, AudienceRequest(Seeds(user_ids=seeds), k=10, threshold=t, method=method))
    assert len(both.users) == 10 and all(m.score >= t - 1e-6 for m in both.users)
    high = expand_audience(
        graph, AudienceRequest(Seeds(user_ids=seeds), k=50, threshold=0.999, method=method)
    )
    assert len(high.users) == sum(s >= 0.999 for s in want.values())


def test_a_request_has_a_bounded_share_of_the_index(graph: Graph, served: Served) -> None:
    # bounds lowered to this small graph's scale; at their defaults they stop 2,000 seeds x k = 10,000
    seeds = _seeds(served, 4, offset=7)
    want = _brute(served, seeds, set(seeds), "max_seed")
    t = float(np.quantile(list(want.values()), 0.5))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(audience, "MAX_K", 5)  # a threshold-only answer holds the MAX_K best, marked incomplete
        req = AudienceRequest(Seeds(user_ids=seeds), k=None, threshold=t, method="max_seed")
        cut = expand_audience(graph, req)
    best = sorted(want.items(), key=lambda x: (-x[1], x[0]))[:5]
    assert [m.user_id for m in cut.users] == [u for u, _ in best] and not cut.stats.complete
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(audience, "MAX_REQUEST_HITS", 4 * audience.first_fetch(20, 4, filtered=False))
        at_the_bound = AudienceRequest(Seeds(user_ids=seeds), k=20, method="max_seed")
        assert len(expand_audience(graph, at_the_bound).users) == 20
        with pytest.raises(AudienceError, match=r"4 seed searches of \d+ hits each exceed the \d+ hits one"):
            expand_audience(graph, AudienceRequest(Seeds(user_ids=seeds), k=21, method="max_seed"))
    # a threshold search that would re-fetch past the request's share stops there, and says so
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(audience, "MAX_REQUEST_HITS", 4 * audience.first_fetch(None, 4, filtered=False) + 1)
        req = AudienceRequest(Seeds(user_ids=seeds), k=None, threshold=-1.0, method="max_seed")
        deep = expand_audience(graph, req)
    assert not deep.stats.complete and deep.stats.round_trips == 1


def test_knn_vote_scores_are_the_mean_vote_of_seeds(graph: Graph, served: Served) -> None:
    seeds = _seeds(served, 6, offset=3)
    a = expand_audience(graph, AudienceRequest(Seeds(user_ids=seeds), k=20, method="knn_vote", m=10))
    idx = {u: i for i, u in enumerate(served.user_ids)}
    pool = [i for i, u in enumerate(served.user_ids) if u not in seeds]
    sims = served.embeddings[[idx[s] for s in seeds]] @ served.embeddings[pool].T
    votes = np.zeros(len(pool))
    for row in sims:  # each seed picks its 20 nearest (m=10 is raised to k)
        top = np.argsort(-row, kind="stable")[:20]
        votes[top] += row[top]
    want = {served.user_ids[pool[j]]: votes[j] / len(seeds) for j in range(len(pool))}
    for m in a.users:
        assert m.score == pytest.approx(want[m.user_id], abs=1e-4)
    assert a.stats.index_queries == 6 and a.stats.round_trips == 1


def test_unknown_seeds_and_seeds_without_embedding_are_reported(graph: Graph, served: Served) -> None:
    seeds = (*_seeds(served, 3), "NO-SUCH-USER", served.no_embedding, "NO-SUCH-USER")
    a = expand_audience(graph, AudienceRequest(Seeds(user_ids=seeds), k=5))
    assert a.stats.n_seeds == 5  # duplicates folded
    assert a.stats.n_seeds_found == 4
    assert a.stats.unknown_seed_ids == ("NO-SUCH-USER",)
    assert a.stats.seeds_without_embedding == (served.no_embedding,)
    assert len(a.users) == 5 and served.no_embedding not in {m.user_id for m in a.users}
    none = expand_audience(graph, AudienceRequest(Seeds(user_ids=("X1", "X2")), k=5))
    assert none.users == () and none.stats.unknown_seed_ids == ("X1", "X2") and none.stats.round_trips == 0


def test_per_seed_searches_are_batched(graph: Graph, served: Served) -> None:
    a = expand_audience(graph, AudienceRequest(Seeds(item=STARBUCKS), k=10, method="max_seed"))
    assert a.stats.n_seeds == 94 and a.stats.index_queries >= 94
    # 94 seed vectors in batches of 64: two round trips, not 94
    assert a.stats.round_trips == 2
    c = expand_audience(graph, AudienceRequest(Seeds(item=STARBUCKS), k=10))
    assert c.stats.index_queries == 1 and c.stats.round_trips == 1


def test_item_seeds_are_its_buyers(graph: Graph, served: Served) -> None:
    buyers = {u for u, items in served.items_of.items() if STARBUCKS in items}
    a = expand_audience(graph, AudienceRequest(Seeds(item=STARBUCKS), k=30))
    assert set(a.seed_ids) == buyers - {served.no_embedding}
    assert not {m.user_id for m in a.users} & buyers
    with pytest.raises(UnknownItem) as e:
        expand_audience(graph, AudienceRequest(Seeds(item="NO-SUCH-ITEM"), k=5))
    assert e.value.field == "seed_item"


def test_named_seed_queries(graph: Graph, served: Served) -> None:
    assert {"category_buyers", "store_buyers", "item_likers", "entity_buyers"} <= set(seed_query_names())
    a = expand_audience(graph, AudienceRequest(Seeds(query="item_likers", params={"asin": STARBUCKS}), k=5))
    starbucks = {u for u, items in served.items_of.items() if STARBUCKS in items}
    assert 0 < a.stats.n_seeds <= len(starbucks) and set(a.seed_ids) <= starbucks
    acc = expand_audience(
        graph,
        AudienceRequest(Seeds(query="category_buyers", params={"category": "Gift Card Accessories"}), k=5),
    )
    want = {u for u, items in served.items_of.items() if items & set(served.accessory_items)}
    assert acc.stats.n_seeds == len(want) and set(acc.seed_ids) == want - {served.no_embedding}
    store = expand_audience(
        graph, AudienceRequest(Seeds(query="store_buyers", params={"store": "Starbucks"}), k=5)
    )
    assert store.stats.n_seeds >= 94
    ent = expand_audience(
        graph, AudienceRequest(Seeds(query="entity_buyers", params={"entity": ENTITY}), k=5)
    )
    assert ent.stats.n_seeds >= 94
    with pytest.raises(AudienceError) as e:
        expand_audience(graph, AudienceRequest(Seeds(query="item_likers"), k=5))
    assert e.value.field == "params.asin"
    with pytest.raises(AudienceError) as e:
        expand_audience(graph, AudienceRequest(Seeds(query="../analyst/user", params={}), k=5))
    assert e.value.field == "seed_query"


def test_filters_apply_after_the_index_search(graph: Graph, served: Served) -> None:
    seeds = _seeds(served, 10)
    acc = set(served.accessory_items)
    want = {u for u, items in served.items_of.items() if items & acc} - set(seeds) - {served.no_embedding}
    assert 50 < len(want) < 200
    a = expand_audience(
        graph,
        AudienceRequest(Seeds(user_ids=seeds), k=200, filters=Filters(category="Gift Card Accessories")),
    )
    assert {m.user_id for m in a.users} == want  # fewer than k exist: all of them, found by re-fetching
    by_path = expand_audience(
        graph, AudienceRequest(Seeds(user_ids=seeds), k=20, filters=Filters(category=ACCESSORY_PATH))
    )
    assert len(by_path.users) == 20 and {m.user_id for m in by_path.users} <= want
    busy = expand_audience(
        graph, AudienceRequest(Seeds(user_ids=seeds), k=20, filters=Filters(min_reviews=8))
    )
    assert len(busy.users) == 20 and all(len(served.items_of[m.user_id]) >= 8 for m in busy.users)


def test_explanations_are_graph_evidence(graph: Graph, served: Served) -> None:
    a = expand_audience(graph, AudienceRequest(Seeds(item=STARBUCKS), k=10, method="max_seed", explain=True))
    seeds = set(a.seed_ids)

    def categories(user: str) -> set[str]:
        accessory = served.items_of[user] & set(served.accessory_items)
        return {"Gift Cards > Gift Cards"} | ({ACCESSORY_PATH} if accessory else set())

    for m in a.users:
        ex = m.explanation
        assert ex is not None
        own = served.items_of[m.user_id]
        for item in ex.shared_items:
            assert item["asin"] in own
            assert item["n_seeds"] == sum(item["asin"] in served.items_of[s] for s in seeds)
        for c in ex.shared_categories:
            holders = [u for u in (m.user_id, *seeds) if c["category"] in categories(u)]
            assert holders[0] == m.user_id and c["n_seeds"] == len(holders) - 1
        assert "Gift Cards > Gift Cards" in [c["category"] for c in ex.shared_categories]
        assert ex.summary().startswith("items: ") and "categories: Gift Cards > Gift Cards (" in ex.summary()
        for s in ex.similar_users:
            assert s["user_id"] in seeds
    # candidates who bought another coffee-lover item are linked to the seeds through the MoKG entity
    linked = [m for m in a.users if m.explanation and m.explanation.entities]
    for m in linked:
        assert m.explanation is not None
        assert m.explanation.entities[0]["name"] == ENTITY
        assert m.explanation.entities[0]["relation"] == "TARGET_AUDIENCE"
    # a seed pair with a SIMILAR_TO edge explains the other: expand from one side, explain the other
    a_id, b_id = served.similar_pairs[0]
    from mokg.lookalike.explain import explain

    other = next(u for u in served.user_ids if "B004Q7CK9M" in served.items_of[u] and u not in seeds)
    (entity,) = explain(graph, [other], sorted(seeds))[other].entities
    assert entity == {
        "name": ENTITY,
        "type": "Audience",
        "relation": "TARGET_AUDIENCE",
        "n_seeds": len(seeds),
    }
    ex = explain(graph, [b_id], [a_id])[b_id]
    assert ex.similar_users == [{"user_id": a_id, "sim": 0.8}]
    assert top_categories(graph, [a_id, b_id])[0] == {
        "category": "Gift Cards > Gift Cards",
        "name": "Gift Cards",
        "users": 2,
    }


def test_missing_vector_index_is_a_clear_error(graph_server: Settings, tmp_path: Path) -> None:
    settings = scratch_database(graph_server, "t")
    with Graph(settings) as g:
        apply_schema(g)
        ingest(g, reviews=FIXTURES / "amazon2023_reviews.jsonl", rejects_path=tmp_path / "r.jsonl")
        user = g.run_text("MATCH (u:User) RETURN u.user_id AS u LIMIT 1", {}, read_only=True)[0]["u"]
        g.write_batches("glom/set_user_properties", [{"key": user, "props": {"embedding": [1.0, 0.0, 0.0]}}])
        with pytest.raises(EmbeddingsUnavailable):
            expand_audience(g, AudienceRequest(Seeds(user_ids=(user,)), k=3))


def _gift_cards_with_user_index(g: Graph, tmp_path: Path) -> list[str]:
    """Gift_Cards ingested into the scratch database behind ``g``, an 8-d user vector index; the user ids."""
    apply_schema(g)
    ingest(g, reviews=GIFT_REVIEWS, meta=GIFT_META, rejects_path=tmp_path / "r.jsonl")
    users = [
        r["u"] for r in g.run_text("MATCH (u:User) RETURN u.user_id AS u ORDER BY u", {}, read_only=True)
    ]
    g.dialect.create_vector_index(g, "User", "embedding", 8)
    return users


def test_seed_cache_serves_repeats_and_drops_stale_vectors(graph_server: Settings, tmp_path: Path) -> None:
    settings = scratch_database(graph_server, "t")
    with Graph(settings) as g:
        users = _gift_cards_with_user_index(g, tmp_path)
        rng = np.random.default_rng(0)

        def write(version: str) -> None:
            vectors = rng.standard_normal((len(users), 8))
            g.write_batches(
                "glom/set_user_properties",
                [
                    {"key": u, "props": {"embedding": v.tolist(), "embedding_version": version}}
                    for u, v in zip(users, vectors, strict=True)
                ],
            )

        write("v1")
        req = AudienceRequest(Seeds(user_ids=tuple(users[:20])), k=15)
        cache = SeedCache(max_entries=1000)
        first = expand_audience(g, req, seed_cache=cache)
        assert (cache.hits, cache.misses, len(cache)) == (0, 20, 20)
        again = expand_audience(g, req, seed_cache=cache)
        assert cache.hits == 20 and again.users == first.users and again.model_version == "v1"
        # a retrain writes new vectors: the hits report v2, so the cached v1 seeds are dropped and refetched
        write("v2")
        fresh = expand_audience(g, req)
        cached = expand_audience(g, req, seed_cache=cache)
        assert fresh.model_version == cached.model_version == "v2"
        assert cached.users == fresh.users and cached.users != first.users
        assert len(cache) == 20  # holds the v2 seeds only
        small = SeedCache(max_entries=5)
        expand_audience(g, req, seed_cache=small)
        assert len(small) == 5  # least recently used out first
        # the stream re-embeds users under the same version: no hit tells, the time to live does
        timed = SeedCache(ttl_s=0.5)
        expand_audience(g, req, seed_cache=timed)
        write("v2")
        time.sleep(0.6)
        after = expand_audience(g, req, seed_cache=timed)
        assert timed.hits == 0 and after.users == expand_audience(g, req).users != cached.users


def test_a_model_retrained_at_another_dimension_gets_its_own_index(
    graph_server: Settings, tmp_path: Path
) -> None:
    settings = scratch_database(graph_server, "t")
    with Graph(settings) as g:
        users = _gift_cards_with_user_index(g, tmp_path)  # an 8-d model was served here
        rng = np.random.default_rng(1)
        for dim, version in ((8, "d8"), (12, "d12")):
            g.dialect.create_vector_index(g, "User", "embedding", dim)  # as every write-back does
            g.write_batches(
                "glom/set_user_properties",
                [
                    {"key": u, "props": {"embedding": v.tolist(), "embedding_version": version}}
                    for u, v in zip(users, rng.standard_normal((len(users), dim)), strict=True)
                ],
            )
            audience = expand_audience(g, AudienceRequest(Seeds(user_ids=tuple(users[:20])), k=15))
            assert audience.model_version == version and len(audience.users) == 15


def test_cli_expand_writes_csv_and_jsonl(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "aud.csv"
    proc = run_mokg("expand", "--item", STARBUCKS, "-k", "7", "--out", str(out), settings=served.settings)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert [int(r["rank"]) for r in rows] == list(range(1, 8))
    seeds_file = tmp_path / "seeds.txt"
    seeds_file.write_text("\n".join([*_seeds(served, 3), "NO-SUCH-USER"]) + "\n")
    out2 = tmp_path / "aud.jsonl"
    proc = run_mokg(
        "expand", "--seeds", str(seeds_file), "-k", "4", "--method", "max_seed", "--explain", "--out", str(out2),
        settings=served.settings,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "unknown seeds: NO-SUCH-USER" in proc.stderr
    lines = [json.loads(x) for x in out2.read_text().splitlines()]
    assert len(lines) == 4 and all("shared_items" in x["explanation"] for x in lines)
    bad = run_mokg("expand", "--item", STARBUCKS, "--seeds", str(seeds_file), settings=served.settings)
    assert bad.returncode != 0 and "exactly one" in bad.stderr


# -- logreg: the per-campaign classifier, served --------------------------------------------------------


def _starbucks_halves(served: Served) -> tuple[tuple[str, ...], set[str]]:
    buyers = sorted(u for u in served.user_ids if STARBUCKS in served.items_of[u])
    return tuple(buyers[::2]), set(buyers[1::2])


def test_logreg_finds_the_seeds_lookalikes_and_ranks_by_the_classifier(graph: Graph, served: Served) -> None:
    seeds, held_out = _starbucks_halves(served)
    cache = SeedCache()
    a = expand_audience(
        graph, AudienceRequest(Seeds(user_ids=seeds), k=len(held_out), method="logreg"), seed_cache=cache
    )
    got = [m.user_id for m in a.users]
    assert len(got) == len(held_out) and not set(got) & set(seeds)
    assert (a.stats.method, a.stats.method_source) == ("logreg", "request")
    assert a.stats.index_queries == 1 and a.stats.round_trips == 1  # one index query, like centroid
    # the other half of the item's buyers come first far more often than chance
    base = len(held_out) / (len(served.user_ids) - len(seeds))
    precision = len(set(got) & held_out) / len(got)
    assert precision > 3 * base, (precision, base)
    # the ranking is the classifier's: refit on the cached sample, rank everybody by cos(w, x) in numpy
    assert cache.background is not None
    _, bg_ids, bg_vectors = cache.background
    assert len(bg_ids) == len(set(bg_ids)) and set(bg_ids) <= set(served.user_ids)
    keep = [j for j, u in enumerate(bg_ids) if u not in set(seeds)][: 10 * len(seeds)]
    assert len(keep) == min(10 * len(seeds), len(served.user_ids) - len(seeds))
    idx = {u: i for i, u in enumerate(served.user_ids)}
    x = np.concatenate([served.embeddings[[idx[u] for u in seeds]], bg_vectors[keep]])
    w, _ = fit_logreg(x, np.r_[np.ones(len(seeds)), np.zeros(len(keep))])
    pool = [u for u in served.user_ids if u not in set(seeds)]
    cos = served.embeddings[[idx[u] for u in pool]] @ (w / np.linalg.norm(w))
    want = sorted(zip(pool, cos.tolist(), strict=True), key=lambda p: (-p[1], p[0]))[: len(got)]
    assert got == [u for u, _ in want]
    assert [m.score for m in a.users] == pytest.approx([c for _, c in want], abs=1e-4)
    # a repeat reuses the cached sample: same audience, no new draw
    again = expand_audience(
        graph, AudienceRequest(Seeds(user_ids=seeds), k=len(held_out), method="logreg"), seed_cache=cache
    )
    assert again.users == a.users


def test_logreg_keeps_filters_threshold_and_exclusions(graph: Graph, served: Served) -> None:
    seeds, _ = _starbucks_halves(served)
    acc = set(served.accessory_items)
    exclude = tuple(served.user_ids[1:40:2])
    cache = SeedCache()  # one background sample, so both requests fit the same classifier
    a = expand_audience(
        graph,
        AudienceRequest(
            Seeds(user_ids=seeds),
            k=15,
            method="logreg",
            exclude=exclude,
            filters=Filters(category="Gift Card Accessories"),
        ),
        seed_cache=cache,
    )
    got = {m.user_id for m in a.users}
    assert len(got) == 15 and not got & (set(seeds) | set(exclude))
    assert all(served.items_of[u] & acc for u in got)
    t = a.users[7].score - 1e-5  # scores are rounded to 6 places
    above = expand_audience(
        graph,
        AudienceRequest(Seeds(user_ids=seeds), k=None, threshold=t, method="logreg"),
        seed_cache=cache,
    )
    assert all(m.score >= t - 1e-9 for m in above.users) and above.stats.complete
    assert {m.user_id for m in a.users[:8]} <= {m.user_id for m in above.users}


def test_the_recorded_method_is_the_default(graph_server: Settings, tmp_path: Path) -> None:
    settings = scratch_database(graph_server, "t")
    with Graph(settings) as g:
        users = _gift_cards_with_user_index(g, tmp_path)
        vectors = np.random.default_rng(0).standard_normal((len(users), 8))
        rows = [
            {"key": u, "props": {"embedding": v.tolist(), "embedding_version": "v1"}}
            for u, v in zip(users, vectors, strict=True)
        ]
        g.write_batches("glom/set_user_properties", rows)
        seeds = Seeds(user_ids=tuple(users[:20]))
        # nothing recorded (no :Model node at all): centroid
        assert recorded_method(g, "v1") is None
        plain = expand_audience(g, AudienceRequest(seeds, k=10))
        assert (plain.stats.method, plain.stats.method_source) == ("centroid", "default")
        record_method(g, "v1", "logreg", {"validation_ap": {"centroid": 0.1, "logreg": 0.2}})
        assert recorded_method(g, "v1") == "logreg"
        cache = SeedCache()
        for c in (None, cache, cache):
            a = expand_audience(g, AudienceRequest(seeds, k=10), seed_cache=c)
            assert (a.stats.method, a.stats.method_source) == ("logreg", "model")
            assert len(a.users) == 10 and not {m.user_id for m in a.users} & set(seeds.user_ids)
        assert cache.methods["v1"][0] == Serving("logreg")
        # an explicit method always wins
        x = expand_audience(g, AudienceRequest(seeds, k=10, method="max_seed"), seed_cache=cache)
        assert (x.stats.method, x.stats.method_source) == ("max_seed", "request")
        # a retrain (new version) without a recorded choice is served by centroid again
        g.write_batches(
            "glom/set_user_properties",
            [{**r, "props": {**r["props"], "embedding_version": "v2"}} for r in rows],
        )
        v2 = expand_audience(g, AudienceRequest(seeds, k=10), seed_cache=cache)
        assert v2.model_version == "v2" and (v2.stats.method, v2.stats.method_source) == (
            "centroid",
            "default",
        )
        # the CLI uses the record too
        record_method(g, "v2", "max_seed", {})
        proc = run_mokg(
            "expand", "--item", "B00AR51Y5I", "-k", "3", "--out", str(tmp_path / "a.csv"), settings=settings
        )
        assert proc.returncode == 0, proc.stderr
        assert "(max_seed: model," in proc.stderr
        with pytest.raises(ValueError):
            record_method(g, "v2", "nonsense", {})


def test_the_recorded_activity_term_ranks_exactly_as_brute_force(
    graph_server: Settings, tmp_path: Path
) -> None:
    settings = scratch_database(graph_server, "t")
    with Graph(settings) as g:
        users = _gift_cards_with_user_index(g, tmp_path)
        vectors = np.random.default_rng(1).standard_normal((len(users), 8))
        g.write_batches(
            "glom/set_user_properties",
            [
                {"key": u, "props": {"embedding": v.tolist(), "embedding_version": "va"}}
                for u, v in zip(users, vectors, strict=True)
            ],
        )
        inputs = activity_inputs(g, "va")
        items = dict(zip(inputs.user_ids, inputs.items.tolist(), strict=True))
        counts = np.array([items[u] for u in users])
        assert counts.max() > counts.min()  # the term has something to rank by
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        seeds = tuple(users[3:60:3])
        others = [i for i, u in enumerate(users) if u not in set(seeds)]
        centroid = unit[[users.index(s) for s in seeds]].sum(axis=0)
        cos = unit[others] @ (centroid / np.linalg.norm(centroid))
        for weight in (2.0, -1.0):
            term = ActivityTerm.of(counts, weight)
            record_method(g, "va", "centroid", {"activity": term.detail()})
            if weight == 2.0:
                # a term recorded without its index (a graph trained before it existed) is a clear error
                with pytest.raises(EmbeddingsUnavailable, match="activity index"):
                    expand_audience(g, AudienceRequest(Seeds(user_ids=seeds), k=20))
            assert write_activity_index(g, term, "va") == len(users)
            # every non-seed user is in the background sample here (fewer than LOGREG_MAX_BACKGROUND)
            assert len(users) - len(seeds) < LOGREG_MAX_BACKGROUND
            want = dict(
                zip(
                    [users[i] for i in others],
                    cos + term.bonus(counts[others], float(cos.std())),
                    strict=True,
                )
            )
            for cache in (None, SeedCache()):
                a = expand_audience(g, AudienceRequest(Seeds(user_ids=seeds), k=20), seed_cache=cache)
                assert (a.stats.method, a.stats.method_source, a.stats.activity_weight) == (
                    "centroid",
                    "model",
                    weight,
                )
                # the activity index answers in one index query, as a plain centroid request does
                assert (a.stats.index_queries, a.stats.round_trips) == (1, 1)
                got = {m.user_id: m.score for m in a.users}
                assert len(got) == 20 and [m.score for m in a.users] == sorted(got.values(), reverse=True)
                assert list(got.values()) == pytest.approx([want[u] for u in got], abs=1e-4)
                # nobody left out scores above anybody returned (the bound stopped the search late enough)
                assert min(got.values()) >= max(s for u, s in want.items() if u not in got) - 1e-4
            # a threshold on the adjusted score returns exactly the users at or above it
            t = float(np.quantile(list(want.values()), 0.9))
            above = expand_audience(g, AudienceRequest(Seeds(user_ids=seeds), k=None, threshold=t))
            assert {m.user_id for m in above.users} == {u for u, s in want.items() if s >= t}
            # the activity term goes with the recorded method: a request naming one gets plain cosines
            named = expand_audience(g, AudienceRequest(Seeds(user_ids=seeds), k=20, method="centroid"))
            assert named.stats.activity_weight == 0.0 and named.stats.method_source == "request"
            plain = dict(zip([users[i] for i in others], cos, strict=True))
            assert [m.score for m in named.users] == pytest.approx(
                [plain[m.user_id] for m in named.users], abs=1e-4
            )
        # a recorded term with a method it is not served with is ignored (and weight 0 is no term)
        record_method(g, "va", "max_seed", {"activity": term.detail()})
        assert recorded_serving(g, "va") == Serving("max_seed", None)
        record_method(g, "va", "logreg", {"activity": {**term.detail(), "weight": 0.0}})
        assert recorded_serving(g, "va") == Serving("logreg", None)
