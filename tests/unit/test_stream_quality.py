"""What inductive embeddings give up against a retrain (mokg.stream.quality), on planted communities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mokg.glom.data import KGData, Reviews, TrainConfig
from mokg.stream.quality import InductiveQuality, last, measure, medians, save

CFG = TrainConfig(dim=8, pm_epochs=30, glm_epochs=2, use_profiles=False, aggregator="mean", seed=1)


def _communities(n_users: int = 80, n_items: int = 12) -> KGData:
    """Each user reviews five of the six items of its half: every item has about 33 buyers, all of one half."""
    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(n_users):
        half = u % 2
        for i in rng.choice(np.arange(half * n_items // 2, (half + 1) * n_items // 2), 5, replace=False):
            users.append(f"U{u}")
            items.append(f"I{i}")
    n = len(users)
    return KGData(
        reviews=Reviews(users, items, np.full(n, 5.0), np.full(n, 0.8)),
        items=[f"I{i}" for i in range(n_items)],
        supkg=[],
    )


@pytest.fixture(scope="module")
def measured() -> InductiveQuality:
    return measure(_communities(), CFG, seed=0, hold_share=0.25, tasks="all", min_buyers=10)


def test_the_held_back_users_are_folded_in_and_both_models_are_scored(measured: InductiveQuality) -> None:
    q = measured
    assert q.users == 80 and q.held_back == 20
    assert q.embedded_inductively + q.without_embedding == q.held_back
    assert q.embedded_inductively >= 18  # each has reviews left after the held-out edges go
    assert q.tasks == 12 and 0 < q.held_tasks <= q.tasks
    # the communities are plain: both models rank a task's own half first; the folded-in users do too
    for ap in (q.ap_retrain, q.ap_inductive, q.ap_retrain_held, q.ap_inductive_held):
        assert 0.6 < ap <= 1.0
    assert q.ratio == pytest.approx(q.ap_inductive / q.ap_retrain)


def test_a_pm_served_model_is_compared_on_its_pm_vectors(measured: InductiveQuality) -> None:
    q = measure(_communities(), CFG, seed=0, hold_share=0.25, tasks="all", min_buyers=10, serve_pm=True)
    # the same fits and fold-in, read from h⁰ instead of GLM's output: other vectors, other AP
    assert (q.held_back, q.embedded_inductively, q.tasks) == (20, measured.embedded_inductively, 12)
    assert q.ap_retrain != measured.ap_retrain and 0.6 < q.ap_inductive <= 1.0


def test_validation_tasks_are_a_subset_scored_alone() -> None:
    q = measure(_communities(), CFG, seed=0, hold_share=0.25, tasks="validation", min_buyers=10)
    assert 1 <= q.tasks < 12


def test_medians_over_seeds_and_their_ratio(measured: InductiveQuality) -> None:
    other = measure(_communities(), CFG, seed=1, hold_share=0.25, tasks="all", min_buyers=10)
    med = medians([measured, other])
    assert med["ap_retrain"] == pytest.approx((measured.ap_retrain + other.ap_retrain) / 2)
    assert med["ratio"] == pytest.approx(med["ap_inductive"] / med["ap_retrain"])


def test_a_graph_without_tasks_or_a_bad_share_is_refused() -> None:
    with pytest.raises(ValueError, match="no item has min_buyers=500 buyers"):
        measure(_communities(), CFG, min_buyers=500)
    with pytest.raises(ValueError, match=r"hold_share=1\.0"):
        measure(_communities(), CFG, hold_share=1.0)


def test_the_last_measurement_is_kept_for_its_model_only(measured: InductiveQuality, tmp_path: Path) -> None:
    save(tmp_path, "glom-x", 0.25, "all", [measured])
    body = last(tmp_path, "glom-x")
    assert body is not None and body["hold_share"] == 0.25 and body["tasks"] == "all"
    assert body["medians"]["ratio"] == pytest.approx(measured.ratio)
    assert body["rows"][0]["held_back"] == 20
    assert last(tmp_path, "glom-y") is None and last(tmp_path, None) is None


def test_user_profiles_are_rebuilt_from_training_items_and_held_back_users_get_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mokg.stream.quality as quality

    kg = _communities()
    rng = np.random.default_rng(3)
    # an LLM user profile quotes every purchase, held-out ones too: it must not reach either fit
    profiles = {f"i:{a}": rng.normal(size=4).astype(np.float32) for a in kg.items}
    profiles |= {f"u:{u}": np.full(4, 99.0, np.float32) for u in set(kg.reviews.user)}
    fitted: list[KGData] = []
    real_fit = quality.fit

    def spy(data: KGData, cfg: TrainConfig, *args: object) -> object:
        fitted.append(data)
        return real_fit(data, cfg, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(quality, "fit", spy)
    cfg = TrainConfig(dim=8, pm_epochs=2, glm_epochs=0, use_profiles=True, seed=1)
    q = measure(
        KGData(kg.reviews, kg.items, kg.supkg, profiles), cfg, hold_share=0.25, tasks="all", min_buyers=10
    )
    retrain, partial = fitted
    for data in fitted:
        assert not any((v == 99.0).all() for k, v in data.profiles.items() if k.startswith("u:"))
        for u in sorted(set(data.reviews.user))[:5]:
            pairs = zip(data.reviews.user, data.reviews.item, strict=True)
            mean = np.mean([profiles[f"i:{a}"] for x, a in pairs if x == u], 0)
            np.testing.assert_allclose(data.profiles[f"u:{u}"], mean / np.linalg.norm(mean), rtol=1e-5)
    # the held-back users are out of the partial fit, reviews and profiles alike
    users_left = set(partial.reviews.user)
    assert q.embedded_inductively <= len(set(retrain.reviews.user) - users_left) <= q.held_back
    assert {k[2:] for k in partial.profiles if k.startswith("u:")} <= users_left
