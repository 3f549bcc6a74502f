"""Continuous mode for reviews, end to end: `mokg stream send` → real Valkey → a real `mokg worker --queues
ingest` → real ArcadeDB, after a real (small) `train` of the rest of Gift_Cards.

One scenario, built once: three users are held back from the ingested set; their reviews, plus one malformed
record, are streamed after training. The first worker is killed as soon as it takes the first batch (it is
still loading the model), a second one takes the redelivered batch. Then no review is lost or doubled, the bad
record is in the batch's rejects with its reason, and every held-back user is embedded by the trained model
without a retrain and found by lookalike queries.
"""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from conftest import GIFT_META, GIFT_REVIEWS, run_mokg
from test_pair_workers import Worker, isolated, start_worker

from mokg.config import Settings
from mokg.glom.data import TrainConfig
from mokg.glom.inductive import current_version
from mokg.glom.pipeline import artifacts, train
from mokg.graph import Graph
from mokg.graph.schema import apply_schema
from mokg.ingest import ingest
from mokg.lookalike.activity_index import activity_inputs, write_activity_index
from mokg.lookalike.audience import (
    AudienceRequest,
    Seeds,
    expand_audience,
    record_method,
    recorded_serving,
)
from mokg.lookalike.scoring import ActivityTerm
from mokg.stream.incremental import item_triples, reviews_around
from mokg.stream.quality import last
from mokg.stream.refresh import drift

pytestmark = pytest.mark.integration

CFG = {"dim": 16, "pm_epochs": 20, "glm_epochs": 3, "use_profiles": False}
BAD_LINE = '{"reviewerID": "STREAM-BAD", "asin": "B00STREAM0", "overall": 9, "unixReviewTime": 1500000000}'


@dataclass
class Living:
    settings: Settings
    graph: Graph
    env: dict[str, str]
    held: dict[str, list[dict[str, Any]]]  # held-back user -> their reviews
    stream: str
    logs: list[Path]


def _held_back(rows: list[dict[str, Any]], n: int) -> list[str]:
    """``n`` users with three or more reviews, each of an item that someone else reviewed too."""
    by_item = Counter(r["asin"] for r in rows)
    by_user: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_user.setdefault(r["reviewerID"], []).append(r)
    fit = [u for u, rs in sorted(by_user.items()) if len(rs) >= 3 and all(by_item[r["asin"]] > 1 for r in rs)]
    return fit[:n]


def _wait(what: str, done: Any, timeout_s: float, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            tails = "\n".join(p.read_text(errors="replace")[-2000:] for p in logs if p.exists())
            raise AssertionError(f"{what} not within {timeout_s} s:\n{tails}")
        time.sleep(0.5)


def _embedded(graph: Graph, users: list[str]) -> list[dict[str, Any]]:
    return graph.run_text(
        "MATCH (u:User) WHERE u.user_id IN $ids AND u.embedding IS NOT NULL "
        "RETURN u.user_id AS id, u.embedding_version AS version, u.embedding_source AS source, "
        "size(u.embedding) AS dim",
        {"ids": users},
    )


@pytest.fixture(scope="module")
def living(
    graph_server: Settings, broker_server: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Living]:
    tmp = tmp_path_factory.mktemp("stream")
    settings, env = isolated(graph_server, "stream", broker_db=3)
    # a home of its own: the served-model pointer and the rejects of this scenario only
    password = settings.password()
    settings = replace(settings, home=tmp / "home", graph_password=password)
    env = {**env, "MOKG_HOME": str(settings.home), "MOKG_GRAPH_PASSWORD": password}
    with gzip.open(GIFT_REVIEWS, "rt") as f:
        rows = [json.loads(line) for line in f]
    held_ids = _held_back(rows, 3)
    assert len(held_ids) == 3
    held = {u: [r for r in rows if r["reviewerID"] == u] for u in held_ids}
    base = tmp / "base.json"
    base.write_text("".join(json.dumps(r) + "\n" for r in rows if r["reviewerID"] not in held))
    # the held-back users' reviews, with the malformed record in the middle of the first batch
    streamed = [json.dumps(r) for u in held_ids for r in held[u]]
    streamed.insert(2, BAD_LINE)
    stream_file = tmp / "stream.json"
    stream_file.write_text("\n".join(streamed) + "\n")

    graph = Graph(settings)
    apply_schema(graph)
    ingest(graph, reviews=base, meta=GIFT_META, rejects_path=tmp / "base.rejects.jsonl")
    train(graph, settings, TrainConfig.from_settings(settings, **CFG))
    version = current_version(artifacts(settings))
    assert version is not None
    assert not _embedded(graph, held_ids)
    # served with an activity term (as `mokg train --choose-method` may record one), so the streamed users
    # must join its index too
    term = ActivityTerm.of(activity_inputs(graph, version).items, -0.5)
    record_method(graph, version, "centroid", {"activity": term.detail()})
    assert write_activity_index(graph, term, version) > 0

    logs = [tmp / "worker-1.log", tmp / "worker-2.log"]
    args = ["--queues", "ingest"]
    # cold, so that the kill below lands while it loads the scorer and the model for its first batch
    first = start_worker(settings, logs[0], env={**env, "MOKG_STREAM_WARM": "0"}, args=args)
    second: Worker | None = None
    try:
        name = "held"
        sent = run_mokg(
            "stream",
            "send",
            "--reviews",
            str(stream_file),
            "--batch-size",
            "5",
            "--max-wait",
            "30",  # batches of exactly 5 lines, whatever the load: the test knows their first lines
            "--name",
            name,
            "--mine-new-items",
            env=env,
        )
        assert sent.returncode == 0, sent.stderr
        # killed while it loads the scorer and the model for its first batch: the batch is not acknowledged
        _wait("the first worker taking a batch", lambda: "ingest_batch" in logs[0].read_text(), 60, logs)
        first.kill()
        second = start_worker(settings, logs[1], env=env, args=args)
        # every batch done (the first one comes back after the visibility timeout, maybe after the others)
        firsts = range(1, len(streamed) + 1, 5)

        def all_done() -> bool:
            text = "".join(p.read_text(errors="replace") for p in logs if p.exists())
            return all(f"stream held lines {n}:" in text for n in firsts)

        _wait("every batch done", all_done, 180, logs)
        assert "stream held lines 1:" in logs[1].read_text()  # the first batch, by the second worker
        assert "stream runtime warm in" in logs[1].read_text()  # the second worker warmed before "ready."
        assert "stream runtime warm in" not in logs[0].read_text()
        assert len(_embedded(graph, held_ids)) == 3
        yield Living(settings, graph, env, held, name, logs)
    finally:
        for w in (first, second):
            if w is not None:
                w.stop()
        graph.close()


def test_a_killed_worker_loses_and_doubles_no_review(living: Living) -> None:
    assert "ingest_batch" in living.logs[0].read_text()  # the first worker had taken the first batch
    assert "stream held lines 1:" in living.logs[1].read_text()  # and the second one took it again
    rows = living.graph.run_text(
        "MATCH (u:User)-[r:REVIEWED]->(i:Item) WHERE u.user_id IN $ids "
        "RETURN u.user_id AS user, i.asin AS asin, r.time AS time, r.polarity AS polarity",
        {"ids": list(living.held)},
    )
    keys = Counter((r["user"], r["asin"], r["time"]) for r in rows)
    want = {(u, r["asin"], int(r["unixReviewTime"])) for u, rs in living.held.items() for r in rs}
    assert set(keys) == want
    assert max(keys.values()) == 1
    assert all(r["polarity"] is not None for r in rows)  # scored on the way in


def test_a_malformed_record_is_rejected_with_its_reason_and_its_batch_lands(living: Living) -> None:
    folder = living.settings.home / "rejects" / "stream" / living.stream
    rejects = [
        json.loads(line) for p in sorted(folder.glob("*.jsonl")) for line in p.read_text().splitlines()
    ]
    assert len(rejects) == 1
    assert rejects[0]["line"] == 3 and "STREAM-BAD" in rejects[0]["record"]
    assert "overall" in rejects[0]["reason"] or "rating" in rejects[0]["reason"]
    assert not living.graph.run_text("MATCH (u:User {user_id: 'STREAM-BAD'}) RETURN u", {})


def test_streamed_users_are_embedded_by_the_served_model_and_found_by_lookalike(living: Living) -> None:
    version = current_version(artifacts(living.settings))
    held = list(living.held)
    for row in _embedded(living.graph, held):
        assert (row["version"], row["source"], row["dim"]) == (version, "inductive", CFG["dim"])
    # each has its row of the activity index, from its new embedding and its current count
    serving = recorded_serving(living.graph, version)
    assert serving is not None and serving.activity is not None
    inputs = activity_inputs(living.graph, version)
    for user in held:
        j = inputs.user_ids.index(user)
        assert inputs.items[j] == len({r["asin"] for r in living.held[user]})
        row = living.graph.run_text(
            "MATCH (u:User {user_id: $id}) RETURN u.activity_embedding AS v", {"id": user}
        )[0]["v"]
        want = serving.activity.rows(inputs.vectors[j][None, :], [inputs.items[j]])[0]
        assert row == pytest.approx(want.tolist(), abs=1e-6)
    for user in held:
        # a vector query with the user's own vector finds it first
        vec = living.graph.run_text("MATCH (u:User {user_id: $id}) RETURN u.embedding AS v", {"id": user})[0][
            "v"
        ]
        index = living.graph.dialect.vector_index_name("User", "embedding")
        hits = living.graph.query(
            "lookalike/vector_neighbours",
            index=index,
            rows=[{"i": 0, "k": 3, "vec": vec}],
            category=None,
            min_reviews=None,
        )
        assert hits[0]["user_id"] == user
        # as a seed, with no retrain
        audience = expand_audience(living.graph, AudienceRequest(Seeds(user_ids=(user,)), k=10))
        assert audience.stats.seeds_without_embedding == ()
        assert audience.model_version == version and len(audience.users) == 10
    # and as a candidate of a trained user's audience
    n_users = living.graph.run_text("MATCH (u:User) RETURN count(u) AS n", {})[0]["n"]
    trained = living.graph.run_text(
        "MATCH (u:User) WHERE u.embedding_source = 'train' RETURN u.user_id AS id LIMIT 1", {}
    )[0]["id"]
    audience = expand_audience(living.graph, AudienceRequest(Seeds(user_ids=(trained,)), k=n_users))
    assert audience.stats.activity_weight == -0.5  # through the activity index
    assert set(held) <= {u.user_id for u in audience.users}


def test_the_items_the_stream_touched_are_embedded_again_from_their_current_edges(living: Living) -> None:
    version = current_version(artifacts(living.settings))
    asins = sorted({r["asin"] for rs in living.held.values() for r in rs})
    rows = living.graph.run_text(
        "MATCH (i:Item) WHERE i.asin IN $asins RETURN i.asin AS asin, i.embedding_version AS version, "
        "i.embedding_source AS source, size(i.embedding) AS dim",
        {"asins": asins},
    )
    assert sorted(r["asin"] for r in rows) == asins
    assert {(r["version"], r["source"], r["dim"]) for r in rows} == {(version, "inductive", CFG["dim"])}
    untouched = living.graph.run_text(
        "MATCH (i:Item) WHERE NOT i.asin IN $asins AND i.embedding IS NOT NULL "
        "RETURN DISTINCT i.embedding_source AS source",
        {"asins": asins},
    )
    assert [r["source"] for r in untouched] == ["train"]


def test_item_triples_reuse_the_similarity_steps_read_and_equal_a_fresh_read(living: Living) -> None:
    # the embedding step takes an item's reviews from the §3.4 read and reads only the rest (items past the
    # rater bound): both paths must give each item the same triples, SupKG edges included
    users = sorted(living.held)
    around = reviews_around(living.graph, living.settings, users)
    asins = sorted(around)
    known = {a: around[a] for a in asins[::2]}
    fresh = item_triples(living.graph, asins)
    reused = item_triples(living.graph, asins, known=known)
    assert fresh.keys() == reused.keys() == {f"i:{a}" for a in asins}
    assert all(Counter(fresh[k]) == Counter(reused[k]) for k in fresh)
    relations = {r for ts in fresh.values() for _, r, _ in ts}
    assert {"IN_CATEGORY", "ALSO_BOUGHT"} <= relations and relations & {"LIKES", "DISLIKES"}
    assert len(asins) > len(known) > 0
    # and the given reviews are what is used, not read again: a polarity changed in them shows in the triples
    first = asins[0]
    flipped = {first: [(u, t, rating, -1.0) for u, t, rating, _ in known[first]]}
    liked = {r for _, r, _ in fresh[f"i:{first}"]} - {"IN_CATEGORY", "SOLD_BY", "ALSO_BOUGHT"}
    disliked = {r for _, r, _ in item_triples(living.graph, [first], known=flipped)[f"i:{first}"]}
    assert "LIKES" in liked and disliked - {"IN_CATEGORY", "SOLD_BY", "ALSO_BOUGHT"} == {"DISLIKES"}


def test_status_reports_the_drift(living: Living) -> None:
    d = drift(living.graph)
    assert d.inductive == 3 and d.trained > 100 and d.share == pytest.approx(3 / (d.trained + 3))
    done = run_mokg("stream", "status", env=living.env)
    assert done.returncode == 0, done.stderr
    assert current_version(artifacts(living.settings)) in done.stdout
    assert f"{d.trained:,}" in done.stdout and f"{d.share:.1%}" in done.stdout


def test_quality_compares_inductive_embeddings_with_a_retrain_on_the_graphs_reviews(living: Living) -> None:
    version = current_version(artifacts(living.settings))
    done = run_mokg("stream", "quality", "--tasks", "all", "--hold-share", "0.1", env=living.env)
    assert done.returncode == 0, done.stderr
    body = last(artifacts(living.settings), version)
    assert body is not None and body["hold_share"] == 0.1 and body["tasks"] == "all"
    (row,) = body["rows"]
    users = living.graph.run_text("MATCH (u:User)-[:REVIEWED]->() RETURN count(DISTINCT u) AS n", {})[0]["n"]
    assert row["users"] == users and row["held_back"] == round(0.1 * users)
    assert row["embedded_inductively"] + row["without_embedding"] == row["held_back"]
    assert row["tasks"] > 10 and 0 < row["ap_inductive"] <= 1 and 0 < row["ap_retrain"] <= 1
    assert f"×{body['medians']['ratio']:.3f}" in done.stdout
    # and `status` shows it beside the drift, for the model it measured
    shown = run_mokg("stream", "status", env=living.env)
    assert f"×{body['medians']['ratio']:.3f} (all tasks, 10% held back)" in shown.stdout


def test_items_pair_never_mined_are_planned_for_mining(living: Living) -> None:
    asins = sorted({r["asin"] for rs in living.held.values() for r in rs})
    rows = living.graph.run_text(
        "MATCH (i:Item) WHERE i.asin IN $asins "
        "RETURN i.title IS NOT NULL AS titled, i.pair_status AS status, i.pair_run AS run",
        {"asins": asins},
    )
    assert len(rows) == len(asins)
    titled = [r for r in rows if r["titled"]]
    assert titled  # the metadata names most of them
    assert {r["status"] for r in titled} == {"pending"}  # enqueued for a PAIR worker (none runs here)
    assert all(r["run"] for r in titled)
    # an item without a title cannot be a PAIR source: it is left alone, not failed
    assert {r["status"] for r in rows if not r["titled"]} <= {None}


def test_a_prefork_ingest_worker_warms_each_child_before_it_takes_a_batch(
    living: Living, tmp_path: Path
) -> None:
    log = tmp_path / "prefork.log"
    args = ["--queues", "ingest", "--pool", "prefork", "--concurrency", "2"]
    worker = start_worker(living.settings, log, env=living.env, args=args)
    try:
        child = "(scorer, served model; prefork child)"
        _wait("both children warm", lambda: log.read_text().count(child) == 2, 120, [log])
        text = log.read_text()
        # the parent loads nothing (its children run the tasks), and no child was killed for starting slowly
        assert text.count("stream runtime warm in") == 2
        assert "Timed out waiting for UP message" not in text
    finally:
        worker.stop()
