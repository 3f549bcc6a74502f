"""Tests for mokg.synth: sampling helpers on hand-made cases, then small generations from both real sets."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mokg.synth import (
    README_NAME,
    SynthReport,
    _fit_zipf,
    _match_templates,
    _rank_within_groups,
    _sample_baskets,
    _sample_links,
    synthesize,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "amazon"
GIFT_REVIEWS = DATA / "Gift_Cards" / "Gift_Cards_5.json.gz"
GIFT_META = DATA / "Gift_Cards" / "meta_Gift_Cards.json.gz"
BEAUTY_REVIEWS = DATA / "All_Beauty" / "All_Beauty_5.json.gz"
N_USERS, N_ITEMS = 200, 50

needs_data = pytest.mark.skipif(not GIFT_META.exists() or not BEAUTY_REVIEWS.exists(), reason="no real data")


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


# -- helpers ---------------------------------------------------------------------------------------------


def test_rank_within_groups_hand_case() -> None:
    got = _rank_within_groups(np.array([3, 3, 5, 7, 7, 7], dtype=np.int64))
    assert got.tolist() == [0, 1, 0, 0, 1, 2]


def test_fit_zipf_recovers_exact_power_law() -> None:
    # 60 / r for r = 1..6: log-log slope is exactly -1, whatever the order the degrees come in.
    assert _fit_zipf(np.array([20, 60, 12, 30, 10, 15], dtype=np.int64)) == pytest.approx(1.0)
    assert _fit_zipf(np.array([7, 7, 7], dtype=np.int64)) == pytest.approx(0.0, abs=1e-12)


def test_match_templates_hand_case() -> None:
    # Real shares sorted: item2 .6, item1 .3, item0 .1 (cumulative .6 .9 1). Synthetic reviewed items
    # sorted: item1 5, item3 4, item2 1 -> midpoints .25 .7 .95 -> real item2, item1, item0.
    # The unreviewed item0 takes the first real item by rank: item2.
    got = _match_templates(np.array([0, 5, 1, 4], dtype=np.int64), np.array([10, 30, 60], dtype=np.int64))
    assert got.tolist() == [2, 2, 0, 1]


def test_sample_baskets_distinct_and_sized() -> None:
    rng = np.random.default_rng(0)
    degrees = np.array([5, 7, 9, 5, 10] * 40, dtype=np.int64)
    weight = np.arange(1, 11, dtype=np.float64) ** -3.0
    items = _sample_baskets(rng, degrees, weight)
    assert items.size == degrees.sum()
    start = 0
    for d in degrees.tolist():
        basket = items[start : start + d]
        assert len(set(basket.tolist())) == d and basket.min() >= 0 and basket.max() < 10
        start += d


def test_sample_baskets_finishes_with_gumbel_when_rejection_cannot() -> None:
    # Nine items with weight 1e-12: rejection sampling never draws them, so the exact fallback must.
    rng = np.random.default_rng(1)
    weight = np.array([1.0] + [1e-12] * 9)
    items = _sample_baskets(rng, np.full(30, 10, dtype=np.int64), weight)
    assert all(sorted(items[k : k + 10].tolist()) == list(range(10)) for k in range(0, 300, 10))


def test_sample_baskets_follows_weights() -> None:
    rng = np.random.default_rng(2)
    weight = np.array([8.0, 4.0, 2.0, 1.0])
    items = _sample_baskets(rng, np.ones(20_000, dtype=np.int64), weight)
    share = np.bincount(items, minlength=4) / items.size
    assert np.allclose(share, weight / weight.sum(), atol=0.02)


def test_sample_links_prefer_co_reviewed_items() -> None:
    # Users only ever review {0..4} or {5..9}: with 3 links each, every link stays inside the item's group.
    rng = np.random.default_rng(3)
    items = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 20, dtype=np.int64)
    degrees = np.full(40, 5, dtype=np.int64)
    links = _sample_links(rng, items, degrees, np.ones(10), np.full(10, 3, dtype=np.int64))
    for i in range(10):
        targets = links.dst[links.start[i] : links.start[i + 1]].tolist()
        assert len(targets) == len(set(targets)) == 3
        assert i not in targets and all(t // 5 == i // 5 for t in targets)


def test_rejects_too_few_items(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="min_reviews"):
        synthesize(GIFT_REVIEWS, None, tmp_path, n_users=10, n_items=4)


# -- whole generations -----------------------------------------------------------------------------------


def _real_shares(path: Path) -> tuple[np.ndarray, float]:
    rows = {(r["reviewerID"], r["asin"], r["unixReviewTime"]): r for r in _jsonl(path)}.values()
    ratings = np.array([int(r["overall"]) for r in rows])
    return np.bincount(ratings - 1, minlength=5) / ratings.size, float(np.mean([r["verified"] for r in rows]))


@pytest.fixture(scope="module")
def gift(tmp_path_factory: pytest.TempPathFactory) -> tuple[SynthReport, list[int]]:
    calls: list[int] = []
    out = tmp_path_factory.mktemp("gift")
    return synthesize(
        GIFT_REVIEWS, GIFT_META, out, n_users=N_USERS, n_items=N_ITEMS, progress=calls.append
    ), calls


@pytest.fixture(scope="module")
def beauty(tmp_path_factory: pytest.TempPathFactory) -> SynthReport:
    return synthesize(
        BEAUTY_REVIEWS, None, tmp_path_factory.mktemp("beauty"), n_users=N_USERS, n_items=N_ITEMS
    )


@pytest.fixture(params=["gift", "beauty"])
def generated(request: pytest.FixtureRequest) -> tuple[SynthReport, Path]:
    if request.param == "gift":
        return request.getfixturevalue("gift")[0], GIFT_REVIEWS
    return request.getfixturevalue("beauty"), BEAUTY_REVIEWS


@needs_data
def test_files_are_labelled_and_counted(generated: tuple[SynthReport, Path]) -> None:
    report, _ = generated
    assert report.reviews_path.name == f"SYNTHETIC_reviews_{N_USERS}u.json.gz"
    assert report.meta_path.name == f"SYNTHETIC_meta_{N_USERS}u.json.gz"
    reviews, meta = _jsonl(report.reviews_path), _jsonl(report.meta_path)
    assert all(r["synthetic"] is True for r in reviews + meta)
    assert len(reviews) == report.n_reviews and len(meta) == report.n_items == N_ITEMS
    assert all(r["reviewerID"].startswith("SYN-U") and r["asin"].startswith("SYN-I") for r in reviews)
    assert {r["reviewerID"] for r in reviews} == {f"SYN-U{k:06d}" for k in range(1, N_USERS + 1)}
    sidecar = json.loads((report.meta_path.parent / README_NAME).read_text())
    assert sidecar["synthetic"] is True and sidecar["seed"] == 7 and sidecar["n_reviews"] == report.n_reviews
    for out in sidecar["outputs"]:
        path = report.meta_path.parent / out["path"]
        assert out["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


@needs_data
def test_five_core_users_and_unique_pairs(generated: tuple[SynthReport, Path]) -> None:
    reviews = _jsonl(generated[0].reviews_path)
    per_user = Counter(r["reviewerID"] for r in reviews)
    assert min(per_user.values()) >= 5
    pairs = [(r["reviewerID"], r["asin"]) for r in reviews]
    assert len(pairs) == len(set(pairs))


@needs_data
def test_review_fields_have_2018_types(generated: tuple[SynthReport, Path]) -> None:
    report, source = generated
    real_times = [r["unixReviewTime"] for r in _jsonl(source)]
    for r in _jsonl(report.reviews_path):
        assert isinstance(r["overall"], float) and r["overall"] in (1.0, 2.0, 3.0, 4.0, 5.0)
        assert isinstance(r["verified"], bool)
        t = r["unixReviewTime"]
        assert isinstance(t, int) and t % 86_400 == 0 and min(real_times) <= t <= max(real_times)
        day = datetime.fromtimestamp(t, UTC)
        assert r["reviewTime"] == f"{day.month:02d} {day.day}, {day.year}"
        assert isinstance(r.get("reviewText", ""), str) and isinstance(r.get("summary", ""), str)
        assert isinstance(r.get("style", {}), dict) and isinstance(r.get("vote", ""), str)


@needs_data
def test_ratings_and_verified_close_to_real(generated: tuple[SynthReport, Path]) -> None:
    report, source = generated
    reviews = _jsonl(report.reviews_path)
    real, real_verified = _real_shares(source)
    synth = np.bincount([int(r["overall"]) - 1 for r in reviews], minlength=5) / len(reviews)
    assert 0.5 * np.abs(synth - real).sum() < 0.06  # total variation distance
    assert abs(np.mean([r["verified"] for r in reviews]) - real_verified) < 0.06


@needs_data
def test_meta_covers_reviews_and_links_are_internal(generated: tuple[SynthReport, Path]) -> None:
    report, _ = generated
    meta = _jsonl(report.meta_path)
    asins = [m["asin"] for m in meta]
    assert len(set(asins)) == len(asins)
    assert {r["asin"] for r in _jsonl(report.reviews_path)} <= set(asins)
    for m in meta:
        for field in ("also_buy", "also_view"):
            assert m["asin"] not in m[field] and set(m[field]) <= set(asins)
            assert len(m[field]) == len(set(m[field]))


@needs_data
def test_gift_meta_drawn_from_real_joint_and_links_co_reviewed(gift: tuple[SynthReport, list[int]]) -> None:
    report = gift[0]
    real = {(m["brand"], m["main_cat"], json.dumps(m["category"])) for m in _jsonl(GIFT_META)}
    meta = _jsonl(report.meta_path)
    assert all((m["brand"], m["main_cat"], json.dumps(m["category"])) in real for m in meta)
    baskets: dict[str, set[str]] = {}
    for r in _jsonl(report.reviews_path):
        baskets.setdefault(r["reviewerID"], set()).add(r["asin"])
    co = {(a, b) for basket in baskets.values() for a in basket for b in basket}
    edges = [(m["asin"], t) for m in meta for t in m["also_buy"]]
    assert edges and sum(e in co for e in edges) / len(edges) > 0.9


@needs_data
def test_beauty_titles_and_default_category(beauty: SynthReport) -> None:
    meta = _jsonl(beauty.meta_path)
    assert all(m["category"] == ["All Beauty"] and m["main_cat"] == "All Beauty" for m in meta)
    assert all(m["title"].endswith(" - All Beauty") and len(m["title"]) > len(" - All Beauty") for m in meta)
    assert len({m["title"] for m in meta}) > N_ITEMS // 2
    sidecar = json.loads((beauty.meta_path.parent / README_NAME).read_text())
    assert [s["role"] for s in sidecar["sources"]] == ["reviews"]
    assert (
        sidecar["sources"][0]["sha256"] == "4a6b1eb40c4f58328f3f34181a6ef00f8e3423d801128617cc408a83c9bd0027"
    )


@needs_data
def test_progress_reports_reviews_written(gift: tuple[SynthReport, list[int]]) -> None:
    report, calls = gift
    assert calls and calls[-1] == report.n_reviews and calls == sorted(calls)


@needs_data
def test_same_seed_same_bytes(gift: tuple[SynthReport, list[int]], tmp_path: Path) -> None:
    first = gift[0]
    again = synthesize(GIFT_REVIEWS, GIFT_META, tmp_path / "a", n_users=N_USERS, n_items=N_ITEMS)
    other = synthesize(GIFT_REVIEWS, GIFT_META, tmp_path / "b", n_users=N_USERS, n_items=N_ITEMS, seed=8)
    assert again.reviews_path.read_bytes() == first.reviews_path.read_bytes()
    assert again.meta_path.read_bytes() == first.meta_path.read_bytes()
    assert other.reviews_path.read_bytes() != first.reviews_path.read_bytes()


@needs_data
def test_bytes_do_not_depend_on_the_string_hash_seed(
    gift: tuple[SynthReport, list[int]], tmp_path: Path
) -> None:
    # Set/dict iteration over strings changes with PYTHONHASHSEED; a fresh interpreter must agree.
    code = (
        "import sys; from pathlib import Path; from mokg.synth import synthesize; "
        "synthesize(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), "
        f"n_users={N_USERS}, n_items={N_ITEMS})"
    )
    platform_dir = str(Path(__file__).resolve().parents[2] / "platform")
    env = {"PYTHONHASHSEED": "12345", "PYTHONPATH": platform_dir}
    args = [sys.executable, "-c", code, str(GIFT_REVIEWS), str(GIFT_META), str(tmp_path)]
    subprocess.run(args, check=True, env=env, timeout=120)
    assert (tmp_path / gift[0].reviews_path.name).read_bytes() == gift[0].reviews_path.read_bytes()
    assert (tmp_path / gift[0].meta_path.name).read_bytes() == gift[0].meta_path.read_bytes()


@needs_data
def test_the_cli_writes_what_the_library_writes(gift: tuple[SynthReport, list[int]], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mokg.apps.cli import main

    args = ["synth", "--users", str(N_USERS), "--items", str(N_ITEMS), "--seed", "7", "--out", str(tmp_path)]
    args += ["--from-reviews", str(GIFT_REVIEWS), "--from-meta", str(GIFT_META)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"synth: {N_USERS:,} users, {N_ITEMS:,} items, {gift[0].n_reviews:,} reviews in" in result.output
    assert (tmp_path / gift[0].reviews_path.name).read_bytes() == gift[0].reviews_path.read_bytes()
    assert (tmp_path / gift[0].meta_path.name).read_bytes() == gift[0].meta_path.read_bytes()
