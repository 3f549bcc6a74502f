"""Ingestion against a real ArcadeDB server: counts equal an independent count made from the files."""

from __future__ import annotations

import gzip
import html
import json
from pathlib import Path

import pytest
from conftest import (
    BEAUTY_REVIEWS,
    FIXTURES,
    GIFT_META,
    GIFT_REVIEWS,
    counts,
    run_mokg,
)

from mokg.config import Settings
from mokg.graph import Graph
from mokg.graph.schema import apply_schema
from mokg.ingest import InputFileError, ingest

pytestmark = pytest.mark.integration


def _lines(path: Path) -> list[dict]:
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


def expected_counts(reviews: Path, meta: Path | None) -> dict[str, int]:
    """An independent count from the raw files, following the documented rules (not the reader's code)."""
    revs = _lines(reviews)
    users = {r["reviewerID"] for r in revs}
    review_keys = {(r["reviewerID"], r["asin"], r["unixReviewTime"]) for r in revs}
    items = {r["asin"] for r in revs}
    out = {"User": len(users), "REVIEWED": len(review_keys)}
    if meta is None:
        out["Item"] = len(items)
        return out
    metas = _lines(meta)
    meta_asins = {m["asin"] for m in metas}
    all_items = items | meta_asins
    stores = {html.unescape(m["brand"]).strip() for m in metas if m.get("brand", "").strip()}
    also_bought = {
        (m["asin"], d) for m in metas for d in m.get("also_buy", []) if d in all_items and d != m["asin"]
    }
    also_viewed = {
        (m["asin"], d) for m in metas for d in m.get("also_view", []) if d in all_items and d != m["asin"]
    }
    out.update(
        {
            "Item": len(all_items),
            "Store": len(stores),
            "SOLD_BY": sum(1 for m in metas if m.get("brand", "").strip()),
            "ALSO_BOUGHT": len(also_bought),
            "ALSO_VIEWED": len(also_viewed),
        }
    )
    return out


def test_gift_cards_counts_match_files_and_reingest_changes_nothing(
    fresh_graph: Graph, tmp_path: Path
) -> None:
    report = ingest(fresh_graph, reviews=GIFT_REVIEWS, meta=GIFT_META, rejects_path=tmp_path / "rej.jsonl")
    assert report.rejected == 0
    got = counts(fresh_graph)
    want = expected_counts(GIFT_REVIEWS, GIFT_META)
    assert {k: got.get(k, 0) for k in want} == want
    # the README's figures for this file: 458 users, 1,547 meta items covering all 148 reviewed ones
    assert got["User"] == 458 and got["Item"] == 1547
    assert got["IN_CATEGORY"] > 1500 and got["Category"] >= 2

    again = ingest(fresh_graph, reviews=GIFT_REVIEWS, meta=GIFT_META, rejects_path=tmp_path / "rej2.jsonl")
    assert again.written == report.written
    assert counts(fresh_graph) == got


def test_review_properties_land_cleaned(fresh_graph: Graph, tmp_path: Path) -> None:
    ingest(fresh_graph, reviews=GIFT_REVIEWS, meta=GIFT_META, rejects_path=tmp_path / "r.jsonl")
    rows = fresh_graph.run_text(
        "MATCH (u:User {user_id: $u})-[r:REVIEWED]->(i:Item {asin: $a}) "
        "RETURN r.rating AS rating, r.text AS text, r.title AS title, r.time AS time, r.verified AS verified",
        {"u": "A31UBHTUUIFJUT", "a": "B004LLIKVU"},
    )
    assert rows == [
        {
            "rating": 5.0,
            "text": "Another great gift.",
            "title": "Five Stars",
            "time": 1529193600,
            "verified": True,
        }
    ]
    # '&amp;' in category names is unescaped, and no category keeps HTML or a scraped sentence
    names = [r["name"] for r in fresh_graph.run_text("MATCH (c:Category) RETURN c.name AS name", {})]
    assert all("&amp;" not in n and "<" not in n and not n.endswith(".") for n in names)


def test_all_beauty_without_meta(fresh_graph: Graph, tmp_path: Path) -> None:
    report = ingest(fresh_graph, reviews=BEAUTY_REVIEWS, rejects_path=tmp_path / "r.jsonl")
    want = expected_counts(BEAUTY_REVIEWS, None)
    got = counts(fresh_graph)
    assert {k: got.get(k, 0) for k in want} == want
    # 5,269 records, 1,053 of them exact repeats for sibling variants (dataset README)
    assert report.read == 5269 and want["User"] == 991 and want["Item"] == 85


def test_2023_format(fresh_graph: Graph, tmp_path: Path) -> None:
    report = ingest(
        fresh_graph,
        reviews=FIXTURES / "amazon2023_reviews.jsonl",
        meta=FIXTURES / "amazon2023_meta.jsonl",
        rejects_path=tmp_path / "r.jsonl",
    )
    assert report.rejected == 0
    got = counts(fresh_graph)
    # parent_asin keys the item; the repeated review folds into one edge
    assert got["User"] == 3 and got["REVIEWED"] == 4 and got["Item"] == 3
    assert got["BOUGHT_TOGETHER"] == 1 and got["SOLD_BY"] == 2
    row = fresh_graph.run_text(
        "MATCH (u:User {user_id: 'U2023A'})-[r:REVIEWED]->(i:Item {asin: 'P0TEST0001'}) "
        "RETURN r.title AS title, r.text AS text, r.time AS time, r.helpful_votes AS votes, "
        "i.category_path AS path, i.price AS price",
        {},
    )
    assert row == [
        {
            "title": "Lovely & light",
            "text": "Smells great and lasts all day.",
            "time": 1588687728,
            "votes": 2,
            "path": "Beauty & Personal Care > Fragrance > Body Sprays",
            "price": 12.5,
        }
    ]


def _salted(tmp_path: Path) -> tuple[Path, int]:
    with gzip.open(GIFT_REVIEWS, "rt") as f:
        good = f.readlines()[:200]
    bad = [
        "{this is not json\n",
        json.dumps({"asin": "B004LLIKVU", "overall": 5.0, "unixReviewTime": 1}) + "\n",  # no reviewerID
        json.dumps({"reviewerID": "X1", "asin": "B004LLIKVU", "overall": "five", "unixReviewTime": 1}) + "\n",
        json.dumps({"reviewerID": "X2", "asin": "B004LLIKVU", "overall": 7.0, "unixReviewTime": 1}) + "\n",
        json.dumps(["a", "list"]) + "\n",
    ]
    lines = good[:50] + bad[:2] + good[50:120] + bad[2:] + good[120:]
    path = tmp_path / "salted.json"
    path.write_text("".join(lines))
    return path, len(good)


def test_bad_lines_go_to_rejects_and_good_lines_land(fresh_settings: Settings, tmp_path: Path) -> None:
    path, n_good = _salted(tmp_path)
    rejects = tmp_path / "rejects.jsonl"
    with Graph(fresh_settings) as g:
        apply_schema(g)
    proc = run_mokg("ingest", "--reviews", str(path), "--rejects", str(rejects), settings=fresh_settings)
    assert proc.returncode == 3, proc.stderr  # finished, with rejects
    assert "rejected 5" in proc.stdout
    rej = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [r["line"] for r in rej] == [51, 52, 123, 124, 125]
    reasons = [r["reason"] for r in rej]
    assert reasons[0].startswith("malformed JSON")
    assert "reviewerID" in reasons[1] and "missing" in reasons[1]
    assert "'overall'" in reasons[2] and "expected a number" in reasons[2]
    assert "outside 1..5" in reasons[3]
    assert "expected a JSON object" in reasons[4]
    good = _lines(GIFT_REVIEWS)[:n_good]
    with Graph(fresh_settings) as g:
        got = counts(g)
    assert got["REVIEWED"] == len({(r["reviewerID"], r["asin"], r["unixReviewTime"]) for r in good})
    assert "X1" not in {r["user_id"] for r in g_users(fresh_settings)}


def g_users(settings: Settings) -> list[dict]:
    with Graph(settings) as g:
        return g.run_text("MATCH (u:User) RETURN u.user_id AS user_id", {})


def test_missing_and_corrupt_files_fail_clearly(fresh_settings: Settings, tmp_path: Path) -> None:
    proc = run_mokg("ingest", "--reviews", str(tmp_path / "nope.json.gz"), settings=fresh_settings)
    assert proc.returncode == 1 and "no such file" in proc.stderr

    truncated = tmp_path / "truncated.json.gz"
    truncated.write_bytes(GIFT_REVIEWS.read_bytes()[:60_000])
    proc = run_mokg("ingest", "--reviews", str(truncated), settings=fresh_settings)
    assert proc.returncode == 1 and "corrupt or truncated" in proc.stderr, proc.stderr

    # the records before the break landed; the full file then repairs the partial write
    with Graph(fresh_settings) as g:
        partial = counts(g).get("REVIEWED", 0)
        assert 0 < partial < 2969
        ingest(g, reviews=GIFT_REVIEWS, rejects_path=tmp_path / "r.jsonl")
        assert counts(g)["REVIEWED"] == expected_counts(GIFT_REVIEWS, None)["REVIEWED"]

    binary = tmp_path / "binary.json"
    binary.write_bytes(bytes(range(256)) * 400)
    with Graph(fresh_settings) as g, pytest.raises(InputFileError, match="none of the first 50 lines"):
        ingest(g, reviews=binary, rejects_path=tmp_path / "r2.jsonl")
    binary.write_bytes(bytes(range(256)) * 4)
    with Graph(fresh_settings) as g, pytest.raises(InputFileError, match="no line is a valid record"):
        ingest(g, reviews=binary, rejects_path=tmp_path / "r3.jsonl")


def test_invalid_utf8_is_a_reject_never_an_altered_key(fresh_settings: Settings, tmp_path: Path) -> None:
    good = [json.dumps(r).encode() for r in _lines(GIFT_REVIEWS)[:20]]
    bad = good[3].replace(b'"reviewerID": "', b'"reviewerID": "X\xff\xfe', 1)
    path = tmp_path / "bad_bytes.json"
    path.write_bytes(b"\n".join([*good[:3], bad, *good[4:]]) + b"\n")
    rejects = tmp_path / "rejects.jsonl"
    with Graph(fresh_settings) as g:
        apply_schema(g)
    proc = run_mokg("ingest", "--reviews", str(path), "--rejects", str(rejects), settings=fresh_settings)
    assert proc.returncode == 3, proc.stderr
    [rej] = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert rej["line"] == 4 and rej["reason"].startswith("invalid UTF-8 at byte")
    users = {u["user_id"] for u in g_users(fresh_settings)}
    assert not any("\ufffd" in u or u.startswith("X") for u in users)
    assert len(users) == len({json.loads(line)["reviewerID"] for i, line in enumerate(good) if i != 3})


def test_empty_input_and_directories_fail_clearly(fresh_settings: Settings, tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"\n\n")
    proc = run_mokg("ingest", "--reviews", str(empty), settings=fresh_settings)
    assert proc.returncode == 1 and "no records" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_mokg("ingest", "--reviews", str(tmp_path), settings=fresh_settings)
    assert proc.returncode == 1 and "is a directory" in proc.stderr, proc.stderr


def test_each_run_writes_its_own_rejects_file(fresh_settings: Settings, tmp_path: Path) -> None:
    path, _ = _salted(tmp_path)
    with Graph(fresh_settings) as g:
        apply_schema(g)
    first = run_mokg("ingest", "--reviews", str(path), settings=fresh_settings)
    assert first.returncode == 3, first.stderr
    named = first.stdout.split("rejects in ")[1].split()[0]
    assert Path(named).is_file() and Path(named).parent == fresh_settings.home / "rejects"
    clean = tmp_path / "clean.json.gz"
    clean.write_bytes(GIFT_REVIEWS.read_bytes())
    again = run_mokg("ingest", "--reviews", str(clean), settings=fresh_settings)
    assert again.returncode == 0 and "rejects in" not in again.stdout
    # the clean run left no rejects file of its own beside the first run's
    assert not list((fresh_settings.home / "rejects").glob("clean.*"))


def test_graph_faults_are_one_line_messages(fresh_settings: Settings, tmp_path: Path) -> None:
    import os

    env = dict(os.environ)
    cases = {
        "unreachable": ({"MOKG_BOLT_PORT": "1"}, "mokg stack up"),
        "wrong password": ({"MOKG_GRAPH_PASSWORD": "wrong-password"}, "MOKG_GRAPH_PASSWORD"),
        "no database": ({"MOKG_GRAPH_DATABASE": "no_such_db_here"}, "does not exist"),
    }
    for name, (extra, hint) in cases.items():
        os.environ.update(extra)
        try:
            proc = run_mokg("ingest", "--reviews", str(GIFT_REVIEWS))
        finally:
            os.environ.clear()
            os.environ.update(env)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1, (name, proc.stderr)
        assert "Traceback" not in proc.stderr and len(lines) <= 2, (name, proc.stderr)
        assert hint in proc.stderr, (name, proc.stderr)


def test_values_the_graph_cannot_store_are_rejected_and_the_rest_lands(
    fresh_graph: Graph, tmp_path: Path
) -> None:
    good = [json.dumps(r) for r in _lines(GIFT_REVIEWS)[:10]]
    bad = [
        '{"reviewerID": "BAD\\ud800", "asin": "B1", "overall": 5, "unixReviewTime": 1}',  # a lone surrogate
        json.dumps({"reviewerID": "BAD2", "asin": "B1", "overall": 5, "unixReviewTime": 1, "vote": 2**64}),
        '{"reviewerID": "BAD3", "asin": "B1", "overall": 5, "unixReviewTime": NaN}',
    ]
    path = tmp_path / "unstorable.json"
    path.write_text("\n".join(good[:4] + bad + good[4:]) + "\n")
    report = ingest(fresh_graph, reviews=path, rejects_path=tmp_path / "rej.jsonl")
    assert (report.read, report.written, report.rejected) == (13, 10, 3)
    rej = [json.loads(line) for line in (tmp_path / "rej.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rej] == [5, 6, 7]
    assert "not valid Unicode" in rej[0]["reason"] and "not a count" in rej[1]["reason"]
    assert "not a finite number" in rej[2]["reason"]
    users = {u["user_id"] for u in fresh_graph.run_text("MATCH (u:User) RETURN u.user_id AS user_id", {})}
    assert users == {json.loads(line)["reviewerID"] for line in good}
