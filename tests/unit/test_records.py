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


R2023 = {"user_id": "U", "parent_asin": "P", "rating": 5, "timestamp": 1588687728923}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # each raised ValueError, OverflowError or nothing before: a crash of the run, or a write that fails
        ({"unixReviewTime": float("nan")}, "'unixReviewTime': not a finite number: nan"),
        ({"unixReviewTime": float("inf")}, "'unixReviewTime': not a finite number: inf"),
        ({"unixReviewTime": 2**63}, "'unixReviewTime': .* is beyond a 64-bit integer"),
        ({"unixReviewTime": 1e30}, "'unixReviewTime': .* is beyond a 64-bit integer"),
        ({"vote": float("nan")}, "helpful votes: not a finite number"),
        ({"vote": float("-inf")}, "helpful votes: not a finite number"),
        ({"vote": None, "helpful": [float("nan"), 3]}, "helpful votes: not a finite number"),
        ({"vote": "99999999999999999999999"}, "helpful votes: .* is not a count"),
        ({"vote": -5}, "helpful votes: -5 is not a count"),
        ({"reviewerID": "A\ud800"}, "'reviewerID': not valid Unicode"),
        ({"reviewText": "ok \udfff"}, "'text': not valid Unicode"),
        ({"summary": "\ud83d"}, "'title': not valid Unicode"),
    ],
)
def test_unstorable_review_values_are_rejected_naming_the_field(change: dict, message: str) -> None:
    obj = {k: v for k, v in (R2018 | change).items() if v is not None}
    with pytest.raises(RecordError, match=message):
        parse_review(obj)


def test_2023_timestamp_must_be_finite() -> None:
    with pytest.raises(RecordError, match="'timestamp': not a finite number"):
        parse_review(R2023 | {"timestamp": float("nan")})
    # a surrogate pair is one valid character, not a lone surrogate
    assert parse_review(R2023 | {"text": "ok \U0001f600"}).text == "ok \U0001f600"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"category": {"a": 1}}, "'category': expected a list of category names, got dict"),
        ({"category": 5}, "'category': expected a list of category names, got int"),
        ({"category": ["A", 3]}, "'category': element 1: expected a category name, got int"),
        ({"related": {"also_bought": "B000123"}}, "'related.also_bought': expected a list of ASINs, got str"),
        ({"related": {"also_bought": 5}}, "'related.also_bought': expected a list of ASINs, got int"),
        ({"related": {"also_bought": [["B2"]]}}, "'related.also_bought': element 0: expected an ASIN"),
        ({"related": {"also_bought": ["B2", 3]}}, "'related.also_bought': element 1: expected an ASIN"),
        ({"related": {"bought_together": "B00"}}, "'related.bought_together': expected a list of ASINs"),
        ({"related": ["B2"]}, "'related': expected an object, got list"),
        ({"also_buy": ["B2", None]}, "'also_buy': element 1: expected an ASIN string, got NoneType"),
        ({"details": {1: "x"}}, "'details': key 1: expected a string, got int"),
        ({"details": {"a": {1, 2}}}, "'details': not JSON"),
        ({"details": ["a"]}, "'details': expected an object, got list"),
        ({"price": float("nan")}, "'price': nan is not a price"),
        ({"price": float("inf")}, "'price': inf is not a price"),
        ({"price": -3}, "'price': -3 is not a price"),
        ({"price": 10**400}, "'price': .* is beyond a 64-bit integer"),
        ({"price": "$" + "9" * 400}, "'price': .* is not a price"),
        ({"title": "\ud800"}, "'title': not valid Unicode"),
        ({"details": {"k": "\udc00"}}, "'details': not valid Unicode"),
        ({"also_buy": ["B\ud800"]}, "'also_buy': not valid Unicode"),
    ],
)
def test_bad_item_fields_are_rejected_naming_the_field(change: dict, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        parse_item({"asin": "B1", "title": "t"} | change)


def test_item_2014_related_and_category_lists_still_parse() -> None:
    item = parse_item(
        {
            "asin": "B1",
            "categories": [["Beauty", "Skin"], ["Other"]],
            "related": {"also_bought": ["B3", "B2", "B1"], "bought_together": ["B4"]},
            "price": 0,
        }
    )
    assert item.category_path == ("Beauty", "Skin")
    assert (item.also_bought, item.bought_together, item.price) == (["B2", "B3"], ["B4"], 0.0)
