"""AEE, Novelty, ILAD and the ALSO_BOUGHT recall proxy on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mokg.pair.metrics import MinedTriple, Ratio, aee, also_bought_recall, ilad, novelty

MINED = [
    MinedTriple("a", "TARGET_AUDIENCE", "aud:x"),
    MinedTriple("a", "OCCASION", "occ:y"),
    MinedTriple("a", "GIFT_RECIPIENT", "aud:x"),  # same target entity again: counted once for AEE
    MinedTriple("b", "COMPLEMENTARY_PRODUCT", "c"),
    MinedTriple("b", "COMPLEMENTARY_PRODUCT", "c"),  # exact duplicate: counted once everywhere
]


def test_aee_counts_distinct_targets_per_source() -> None:
    assert aee(MINED) == Ratio(3, 2)  # a: {x, y}, b: {c}
    assert aee(MINED).value == 1.5
    assert aee(MINED, sources=["a", "b", "d"]).value == 1.0  # a seed without results still counts
    assert aee(MINED, sources=["a"]).value == 2.0  # triples of other sources are ignored
    assert aee(MINED, existing={"c"}).value == 1.0  # only entities new to the graph
    assert aee([]).value == 0.0


def test_novelty_ignores_relation_and_direction_by_default() -> None:
    supkg = [("c", "ALSO_BOUGHT", "b"), ("a", "IN_CATEGORY", "cat:1")]
    assert novelty(MINED, supkg) == Ratio(3, 4)  # b–c is already linked (reverse direction, other relation)
    assert novelty(MINED, supkg, match_relation=True) == Ratio(4, 4)
    assert novelty(MINED, [("b", "COMPLEMENTARY_PRODUCT", "c")], match_relation=True).value == 0.75
    assert novelty([], supkg).value == 0.0


def test_ilad_averages_mean_pairwise_distance_over_lists() -> None:
    lists = [
        np.array([[0.0, 0.0], [3.0, 4.0]]),  # one pair: 5
        np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),  # 1, 1, sqrt(2)
        np.array([[9.0, 9.0]]),  # no pair: skipped
    ]
    assert ilad(lists) == pytest.approx((5 + (2 + math.sqrt(2)) / 3) / 2)
    assert ilad([np.array([[1.0, 2.0]])]) == 0.0


HELD_OUT = [("a", "b"), ("a", "c"), ("d", "e"), ("f", "a")]
PRODUCT_MINED = [
    MinedTriple("a", "COMPLEMENTARY_PRODUCT", "b"),
    MinedTriple("c", "SIMILAR_PRODUCT", "a"),
    MinedTriple("d", "TARGET_AUDIENCE", "e"),  # not a product relation: never a hit
]


def test_also_bought_recall() -> None:
    assert also_bought_recall(PRODUCT_MINED, HELD_OUT) == Ratio(2, 4)  # (a,b) and (a,c) via the reverse (c,a)
    assert also_bought_recall(PRODUCT_MINED, HELD_OUT, symmetric=False) == Ratio(1, 4)
    assert also_bought_recall(PRODUCT_MINED, HELD_OUT, sources=["a"]) == Ratio(2, 3)  # (a,b) (a,c) (f,a)
    assert also_bought_recall(PRODUCT_MINED, HELD_OUT, sources=["a"], symmetric=False) == Ratio(1, 2)
    assert also_bought_recall(PRODUCT_MINED, HELD_OUT, relations={"TARGET_AUDIENCE"}) == Ratio(1, 4)
    assert also_bought_recall(PRODUCT_MINED, []).value == 0.0
