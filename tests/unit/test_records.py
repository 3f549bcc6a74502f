"""The one review/item model across the 2014, 2018 and 2023 formats, and its errors."""

from __future__ import annotations

import pytest

from mokg.ingest.records import RecordError, category_rows, clean_text, parse_item, parse_review

R2018 = {
    "overall": 4.0,
    "verified": True,
    "reviewTime": "06 17, 2018",
    "reviewerID": "A1",
    "asin": "B1",
    "reviewText": "Great <b>gift</b> &amp; fast",
    "summary": "Nice",
    "unixReviewTime": 1529193600,
    "vote": "1,234",
}


def test_2018_review() -> None:
    r = parse_review(R2018)
    assert (r.user_id, r.asin, r.rating, r.time) == ("A1", "B1", 4.0, 1529193600)
    assert r.text == "Great gift & fast" and r.title == "Nice" and r.helpful_votes == 1234


def test_2018_review_time_fallback_and_2014_helpful() -> None:
    obj = {k: v for k, v in R2018.items() if k not in ("unixReviewTime", "vote")} | {"helpful": [3, 5]}
    r = parse_review(obj)
    assert r.time == 1529193600 and r.helpful_votes == 3


def test_2023_review_ms_timestamp_and_parent_asin() -> None:
    r = parse_review(
        {
            "user_id": "U",
            "asin": "V",
            "parent_asin": "P",
            "rating": 5,
            "timestamp": 1588687728923,
            "helpful_vote": 0,
            "verified_purchase": False,
            "title": "t",
            "text": "x",
        }
    )
    assert (r.asin, r.time, r.verified) == ("P", 1588687728, False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"reviewerID": None}, "missing field 'reviewerID'"),
        ({"overall": "5"}, "field 'overall': expected a number, got str"),
        ({"overall": 0.5}, "outside 1..5"),
        ({"overall": True}, "expected a number, got bool"),
        ({"asin": ""}, "field 'asin': expected a non-empty string"),
        ({"verified": "yes"}, "verified flag"),
        ({"vote": "many"}, "helpful votes: not a number"),
        ({"unixReviewTime": None, "reviewTime": "yesterday"}, "not a date"),
    ],
)
def test_bad_reviews_name_the_field(change: dict, message: str) -> None:
    obj = {k: v for k, v in (R2018 | change).items() if v is not None}
    with pytest.raises(RecordError, match=message):
        parse_review(obj)


def test_item_2018_cleans_categories_and_links() -> None:
    item = parse_item(
        {
            "asin": "B1",
            "title": "<span>Card</span>",
            "brand": " Acme ",
            "category": ["Gift Cards", "Food &amp; Drink", "No expiration, no fees.", "</span>junk"],
            "also_buy": ["B2", "B1", "B2"],
            "price": "$1,029.99",
            "details": {"\n  ASIN: ": "B1"},
        }
    )
    assert item.category_path == ("Gift Cards", "Food & Drink")
    assert item.also_bought == ["B2"]  # deduplicated, self-link dropped
    assert (item.title, item.store, item.price) == ("Card", "Acme", 1029.99)
    assert item.details == '{"ASIN": "B1"}'


def test_item_bad_fields() -> None:
    with pytest.raises(RecordError, match="'also_buy': expected a list"):
        parse_item({"asin": "B1", "also_buy": "B2"})
    with pytest.raises(RecordError, match="missing field 'asin'"):
        parse_item({"title": "x"})


def test_category_rows_form_a_tree() -> None:
    rows = category_rows(("A", "B", "C"))
    assert [(r["path"], r["parent"], r["depth"]) for r in rows] == [
        ("A", None, 1),
        ("A > B", "A", 2),
        ("A > B > C", "A > B", 3),
    ]


def test_clean_text() -> None:
    assert clean_text("  a<br/>b &amp;  c ") == "a b & c"
    assert clean_text("<p></p>") is None
    assert clean_text(["x", None, "y"]) == "x y"
