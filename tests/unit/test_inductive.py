"""Inductive embeddings (mokg.glom.inductive) and the stream producer's batching and pacing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mokg.glom.data import LARGE_GRAPH_PM, KGData, Reviews, TrainConfig
from mokg.glom.fitting import fit
from mokg.glom.inductive import InductiveEmbedder, ModelState, current_version, set_current, state_path
from mokg.ingest.readers import Line
from mokg.stream.producer import produce
from mokg.stream.refresh import Drift, mark_requested, retrain_due

# no SIMILAR_TO: a user's review edges are then all its edges, as the embedder is given them below
CFG = TrainConfig(
    dim=8, pm_epochs=30, glm_epochs=5, use_profiles=False, use_similarity=False, aggregator="mean", seed=1
)


def _kg(n_users: int = 24, n_items: int = 12) -> KGData:
    """Two planted communities: users of each review the items of their own half, liking them."""
    rng = np.random.default_rng(0)
    users, items, ratings = [], [], []
    for u in range(n_users):
        half = u % 2
        for i in rng.choice(np.arange(half * n_items // 2, (half + 1) * n_items // 2), 4, replace=False):
            users.append(f"U{u}")
            items.append(f"I{i}")
            ratings.append(5.0)
    return KGData(
        reviews=Reviews(users, items, np.array(ratings), np.full(len(users), 0.8)),
        items=[f"I{i}" for i in range(n_items)],
        supkg=[],
    )


@pytest.fixture(scope="module")
def trained() -> tuple[KGData, InductiveEmbedder]:
    kg = _kg()
    emb = fit(kg, CFG)
    assert emb.state is not None
    return kg, InductiveEmbedder(emb.state, CFG.version)


def test_a_known_user_keeps_its_trained_embeddings(trained: tuple[KGData, InductiveEmbedder]) -> None:
    kg, embedder = trained
    emb = fit(kg, CFG)  # reproducible: the same vectors as the embedder's model
    user = "u:U3"
    edges = [
        (user, "LIKES", f"i:{i}") for u, i in zip(kg.reviews.user, kg.reviews.item, strict=True) if u == "U3"
    ]
    out = embedder.embed({user: edges})
    assert out.new == set() and not out.skipped
    row = emb.user_ids.index("U3")
    np.testing.assert_allclose(out.pm[user], emb.pm_user[row], atol=1e-6)
    # GLM over the same edges as in training gives its trained vector
    np.testing.assert_allclose(out.served[user], emb.user[row], atol=1e-5)


def test_the_embedder_applies_the_trained_message_share() -> None:
    kg, cfg = _kg(), replace(CFG, glm_share=0.25)
    emb = fit(kg, cfg)
    assert emb.state is not None
    user = "u:U5"
    edges = [
        (user, "LIKES", f"i:{i}") for u, i in zip(kg.reviews.user, kg.reviews.item, strict=True) if u == "U5"
    ]
    out = InductiveEmbedder(emb.state, cfg.version).embed({user: edges})
    row = emb.user_ids.index("U5")
    np.testing.assert_allclose(out.served[user], emb.user[row], atol=1e-5)
    # a model stored before the share was a setting is read with Eq. 8's ½
    old = replace(emb.state, config={k: v for k, v in emb.state.config.items() if k != "glm_share"})
    before = InductiveEmbedder(old, cfg.version).embed({user: edges})
    assert not np.allclose(before.served[user], emb.user[row], atol=1e-5)


def test_a_user_and_its_item_embedded_together_keep_their_trained_vectors(
    trained: tuple[KGData, InductiveEmbedder],
) -> None:
    """Their shared edge is in both lists; counted twice it would move both vectors off the trained ones."""
    kg, embedder = trained
    emb = fit(kg, CFG)
    pairs = list(zip(kg.reviews.user, kg.reviews.item, strict=True))
    item = next(i for u, i in pairs if u == "U3")
    user_edges = [("u:U3", "LIKES", f"i:{i}") for u, i in pairs if u == "U3"]
    item_edges = [(f"u:{u}", "LIKES", f"i:{item}") for u, i in pairs if i == item]
    out = embedder.embed({"u:U3": user_edges, f"i:{item}": item_edges})
    np.testing.assert_allclose(out.served["u:U3"], emb.user[emb.user_ids.index("U3")], atol=1e-5)
    np.testing.assert_allclose(out.served[f"i:{item}"], emb.item[emb.item_ids.index(item)], atol=1e-5)


def test_a_new_user_is_folded_in_from_its_neighbours(trained: tuple[KGData, InductiveEmbedder]) -> None:
    _, embedder = trained
    state = embedder.state
    new = "u:NEW"
    liked = ["i:I0", "i:I1", "i:I2"]
    out = embedder.embed({new: [(new, "LIKES", i) for i in liked]})
    assert out.new == {new}
    h0 = state.glm["entity.weight"]
    r = state.glm["relation.weight"][state.relation_names.index("LIKES")]  # the PM's, frozen in GLM
    want = torch.stack([h0[state.entity_ids.index(i)] - r for i in liked]).mean(0)
    want = want * min(1.0, 1.0 / float(torch.linalg.vector_norm(want)))
    np.testing.assert_allclose(out.pm[new], want.numpy(), atol=1e-6)
    # its served (GLM) vector lies with the community whose items it likes
    users = [e for e in state.entity_ids if e.startswith("u:")]
    trained_vecs = embedder.embed({u: [] for u in users}).served
    cos = {
        u: float(np.dot(v, out.served[new]) / np.linalg.norm(v) / np.linalg.norm(out.served[new]))
        for u, v in trained_vecs.items()
    }
    even = np.mean([c for u, c in cos.items() if int(u[3:]) % 2 == 0])
    odd = np.mean([c for u, c in cos.items() if int(u[3:]) % 2 == 1])
    assert even > odd


def test_a_user_with_no_known_neighbour_gets_nothing_and_a_reason(
    trained: tuple[KGData, InductiveEmbedder],
) -> None:
    _, embedder = trained
    out = embedder.embed({"u:LONE": [("u:LONE", "LIKES", "i:NEVER-SEEN"), ("u:LONE", "NO_SUCH_REL", "i:I0")]})
    assert out.served == {} and "knows" in out.skipped["u:LONE"]


def test_the_pm_version_serves_the_folded_in_vector(trained: tuple[KGData, InductiveEmbedder]) -> None:
    _, embedder = trained
    pm = InductiveEmbedder(embedder.state, CFG.version + "+pm")
    out = pm.embed({"u:NEW": [("u:NEW", "LIKES", "i:I0")]})
    np.testing.assert_allclose(out.served["u:NEW"], out.pm["u:NEW"])


def test_state_and_current_pointer_round_trip(
    trained: tuple[KGData, InductiveEmbedder], tmp_path: Path
) -> None:
    _, embedder = trained
    assert InductiveEmbedder.load(tmp_path) is None and current_version(tmp_path) is None
    embedder.state.save(tmp_path)
    set_current(tmp_path, CFG.version + "+pm")
    assert state_path(tmp_path, CFG.version + "+pm").exists()
    loaded = InductiveEmbedder.load(tmp_path)
    assert loaded is not None and loaded.version == CFG.version + "+pm" and loaded.serve_pm
    assert isinstance(loaded.state, ModelState)
    assert torch.equal(loaded.state.edge_index, embedder.state.edge_index)


def test_a_failed_save_leaves_the_saved_model_whole(
    trained: tuple[KGData, InductiveEmbedder], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retrain re-saves `<version>.pt` under the same version: a worker loading it meanwhile, or a save
    that fails half-way, must find the old model whole, never a torn file."""
    _, embedder = trained
    path = embedder.state.save(tmp_path)
    before = path.read_bytes()

    def torn(obj: object, f: Path) -> None:
        Path(f).write_bytes(b"half a model")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torn)
    with pytest.raises(OSError, match="disk full"):
        embedder.state.save(tmp_path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left behind


def test_the_producer_batches_and_keeps_the_rate() -> None:
    lines = [Line(n, f'{{"n": {n}}}') for n in range(1, 11)] + [Line(11, "bad", error="invalid UTF-8")]
    sent: list[tuple[float, list[tuple[int, str, str | None]]]] = []
    t0 = time.monotonic()
    done = produce(lines, lambda b: sent.append((time.monotonic() - t0, b)), batch_size=4, rate=20.0)
    assert [len(b) for _, b in sent] == [4, 4, 3] and done.lines == 11 and done.batches == 3
    # 20 lines per second: the 4th line is taken at 0.15 s, the 8th at 0.35 s
    assert sent[0][0] >= 0.14 and sent[1][0] >= 0.34 and done.seconds < 5
    assert sent[-1][1][-1] == (11, "bad", "invalid UTF-8")  # reading errors travel to the worker's rejects


def test_the_producer_sends_a_waiting_batch_before_it_fills() -> None:
    def trickle() -> Iterator[Line]:
        yield Line(1, "a")
        yield Line(2, "b")
        time.sleep(0.6)  # a quiet stdin: the two lines must not wait for a third
        yield Line(3, "c")

    sent: list[tuple[float, list[int]]] = []
    t0 = time.monotonic()
    produce(
        trickle(),
        lambda b: sent.append((time.monotonic() - t0, [n for n, _, _ in b])),
        batch_size=50,
        max_wait_s=0.1,
    )
    assert [numbers for _, numbers in sent] == [[1, 2], [3]]
    assert sent[0][0] < 0.5  # sent after about 0.1 s, while the reader still waited


def test_the_producer_sends_the_lines_before_a_reading_error_then_raises_it() -> None:
    def broken() -> Iterator[Line]:
        yield Line(1, "a")
        raise OSError("truncated")

    sent: list[list[tuple[int, str, str | None]]] = []
    with pytest.raises(OSError, match="truncated"):
        produce(broken(), sent.append, batch_size=50)
    assert sent == [[(1, "a", None)]]


def test_a_retrain_is_due_past_the_threshold_once_per_served_model(tmp_path: Path) -> None:
    import os

    d = Drift(trained=80, inductive=20, without=5)
    assert d.share == pytest.approx(0.2)
    set_current(tmp_path, "v1")
    assert not retrain_due(d, 0.0, tmp_path)  # 0: never
    assert not retrain_due(d, 0.25, tmp_path)
    assert retrain_due(d, 0.2, tmp_path)
    mark_requested(tmp_path)
    assert not retrain_due(d, 0.2, tmp_path)  # asked for already, the served model unchanged
    later = (tmp_path / "RETRAIN_REQUESTED").stat().st_mtime + 5
    os.utime(tmp_path / "CURRENT", (later, later))  # a training wrote the served model since
    assert retrain_due(d, 0.2, tmp_path)
    assert Drift(0, 0, 3).share == 0.0


def test_fit_reports_the_configuration_sized_for_the_graph() -> None:
    kg = _kg()
    epochs: list[int] = []

    def progress(label: str, total: int | None) -> Callable[[int], None]:
        if label.startswith("PM"):
            epochs.append(total or 0)
        return lambda completed: None

    emb = fit(kg, replace(CFG, pm_large_graph_triples=1), progress)
    assert emb.config == replace(CFG, pm_large_graph_triples=1, **LARGE_GRAPH_PM)
    assert emb.version == emb.config.version and emb.state is not None
    assert emb.state.config["pm_shared_negatives"] is True and epochs == [50]
    assert fit(kg, CFG).config == CFG  # 48 triples: far below the default bound
