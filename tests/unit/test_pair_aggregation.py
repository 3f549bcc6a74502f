"""Vote counting and the combined score of the aggregation, on hand-computed cases."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from mokg.pair.aggregation import AggregationConfig, FilterReason, StepSamples, aggregate

# Step A (3 samples): coffee lover in 2, student in 2 (repeated within one sample: still one vote), teacher in 1.
# Step B (3 samples, one empty): coffee lover in 1, parent in 1.
STEP_A = StepSamples(
    "A", [["Coffee Lovers", "Students"], ["coffee lover"], ["Students", "students", "Teachers"]]
)
STEP_B = StepSamples("B", [["Coffee lovers"], [], ["Parents"]])


def _shares(result) -> dict[str, float]:
    return {c.key: c.vote_share for c in result.kept} | {
        f.candidate.key: f.candidate.vote_share for f in result.filtered
    }


def test_vote_share_is_the_mean_over_steps_of_the_sample_fraction() -> None:
    result = aggregate([STEP_A, STEP_B])
    shares = _shares(result)
    assert shares["coffee lover"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert shares["student"] == pytest.approx((2 / 3 + 0) / 2)
    assert shares["teacher"] == pytest.approx(1 / 6)
    assert shares["parent"] == pytest.approx(1 / 6)
    assert result.n_samples == 6
    votes = {c.key: c.votes for c in result.kept} | {
        f.candidate.key: f.candidate.votes for f in result.filtered
    }
    assert votes == {"coffee lover": 3, "student": 2, "teacher": 1, "parent": 1}


def test_threshold_keeps_consensus_and_reports_the_rest_in_deterministic_order() -> None:
    result = aggregate([STEP_A, STEP_B], config=AggregationConfig(threshold=0.5))
    assert result.names == ["Coffee Lovers"]  # 0.5 reaches 0.5; display = first of the tied surface forms
    assert result.kept[0].steps == ("A", "B")
    assert [(f.candidate.key, f.reason) for f in result.filtered] == [
        ("student", FilterReason.BELOW_THRESHOLD),
        ("parent", FilterReason.BELOW_THRESHOLD),  # ties on score and votes: by key
        ("teacher", FilterReason.BELOW_THRESHOLD),
    ]
    assert result.filtered_by_reason == {"below_threshold": 3}


def test_combined_score_mixes_votes_and_plausibility() -> None:
    plaus = {"Coffee Lovers": 0.2, "Students": 0.9, "Teachers": 0.8, "Parents": 0.1}
    seen: list[list[str]] = []

    def plausibility(names: Sequence[str]) -> np.ndarray:
        seen.append(list(names))
        return np.array([plaus[n] for n in names])

    result = aggregate([STEP_A, STEP_B], plausibility, AggregationConfig(weight=0.5, threshold=0.45))
    assert len(seen) == 1 and sorted(seen[0]) == sorted(plaus)  # one vectorised call
    scores = {c.key: c.score for c in result.kept}
    assert scores == pytest.approx({"student": 0.5 / 3 + 0.45, "teacher": 0.5 / 6 + 0.4})
    assert result.names == ["Students", "Teachers"]
    filtered = {f.candidate.key: f.candidate.score for f in result.filtered}
    assert filtered == pytest.approx({"coffee lover": 0.25 + 0.1, "parent": 0.5 / 6 + 0.05})
    assert result.kept[0].plausibility == pytest.approx(0.9)


def test_step_weights_act_as_p_kappa_given_s() -> None:
    a = StepSamples(STEP_A.step, STEP_A.samples, weight=3.0)
    shares = _shares(aggregate([a, STEP_B]))
    assert shares["coffee lover"] == pytest.approx((3 * 2 / 3 + 1 / 3) / 4)
    assert shares["student"] == pytest.approx(3 * 2 / 3 / 4)


def test_steps_without_samples_do_not_dilute_the_vote() -> None:
    with_empty_step = aggregate([STEP_A, STEP_B, StepSamples("C", [])])
    assert _shares(with_empty_step) == _shares(aggregate([STEP_A, STEP_B]))
    assert aggregate([StepSamples("C", [])]).kept == ()


def test_without_aggregation_keeps_the_union_of_the_first_samples() -> None:
    result = aggregate([STEP_A, STEP_B], config=AggregationConfig(enabled=False, threshold=1.0))
    assert sorted(c.key for c in result.kept) == ["coffee lover", "student"]
    assert {f.candidate.key: f.reason for f in result.filtered} == {
        "teacher": FilterReason.NOT_IN_FIRST_SAMPLE,
        "parent": FilterReason.NOT_IN_FIRST_SAMPLE,
    }


def test_source_itself_and_empty_names_are_dropped() -> None:
    step = StepSamples("A", [["The Starbucks Gift Card", "!!!", "Baristas"], ["starbucks gift cards", " "]])
    result = aggregate([step], source_name="Starbucks Gift Cards", config=AggregationConfig(threshold=0.5))
    assert result.names == ["Baristas"]
    assert [(f.candidate.key, f.reason) for f in result.filtered] == [
        ("starbuck gift card", FilterReason.SAME_AS_SOURCE)
    ]
    assert result.n_empty == 2


def test_order_does_not_depend_on_sample_order() -> None:
    forward = aggregate([STEP_A, STEP_B], config=AggregationConfig(threshold=0.0))
    reverse = aggregate(
        [StepSamples("B", list(reversed(STEP_B.samples))), StepSamples("A", list(reversed(STEP_A.samples)))],
        config=AggregationConfig(threshold=0.0),
    )
    assert [c.key for c in forward.kept] == [c.key for c in reverse.kept]


def test_bad_plausibility_and_config_are_rejected() -> None:
    with pytest.raises(ValueError, match="returned 1 scores for 4 candidates"):
        aggregate([STEP_A, STEP_B], lambda names: np.array([0.5]))
    with pytest.raises(ValueError, match="weight"):
        AggregationConfig(weight=1.5)
