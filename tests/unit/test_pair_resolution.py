"""Name normalisation and entity linking (exact, normalised, embedding, new)."""

from __future__ import annotations

import numpy as np
import pytest

from mokg.pair.resolution import (
    EntityResolver,
    KnownEntity,
    MatchKind,
    new_entity_key,
    normalize_name,
    singularize,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  The   Gift Cards ", "gift card"),
        ("Bath &amp; Body Works", "bath and body work"),
        ("Bath &amp;amp; Body", "bath and body"),  # double-escaped scraped text
        ("Women's Shoes!", "woman shoe"),
        ("Macy’s", "macy"),
        ("COFFEE-LOVERS", "coffee lover"),
        ("An Apple", "apple"),
        ("A", "a"),  # a lone article is a name, not an article
        ("Ｇｉｆｔ Ｂｏｘｅｓ", "gift box"),  # full-width forms via NFKC
        ("Cookies & Brownies", "cookie and brownie"),
        ("Babies", "baby"),
        ("News Anchors", "news anchor"),
        ("$25 Gift Card", "25 gift card"),
        ("!!!", ""),
    ],
)
def test_normalize_name(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


@pytest.mark.parametrize(
    ("word", "singular"),
    [("watches", "watch"), ("glasses", "glass"), ("boss", "boss"), ("bus", "bus"), ("children", "child"),
     ("movies", "movie"), ("parties", "party"), ("shoes", "shoe"), ("tennis", "tennis"), ("gas", "gas")],
)  # fmt: skip
def test_singularize(word: str, singular: str) -> None:
    assert singularize(word) == singular


ENTITIES = [
    KnownEntity("item:B001", "Starbucks Gift Card"),
    KnownEntity("item:B002", "Amazon.com Gift Cards"),
    KnownEntity("item:B003", "Greeting Card"),
    KnownEntity("item:B004", "amazon com gift card"),  # same normalised name as B002: first given wins
]
# Unit vectors: B001 along x, B002/B004 along y, B003 along z.
EMBEDDINGS = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0, 1.0, 0]])


def test_exact_normalised_embedding_and_new() -> None:
    resolver = EntityResolver(ENTITIES, EMBEDDINGS, threshold=0.9)
    names = ["Starbucks Gift Card", "the amazon.com gift-cards", "Birthday greeting", "Coffee Mug"]
    queries = np.array(
        [[0.0, 0, 0], [0.0, 0, 0], [0.1, 0, 0.99], [0.6, 0.8, 0]]
    )  # only row 2 is close enough
    out = resolver.resolve(names, "Product", queries)
    assert [(r.matched_by, r.existing_key) for r in out] == [
        (MatchKind.EXACT, "item:B001"),
        (MatchKind.NORMALIZED, "item:B002"),
        (MatchKind.EMBEDDING, "item:B003"),
        (MatchKind.NEW, None),
    ]
    assert out[2].similarity == pytest.approx(0.99 / np.hypot(0.1, 0.99))
    assert out[3].key == "Product:coffee-mug"
    assert [r.name for r in out] == names
    assert all(r.key == r.existing_key for r in out[:3])


def test_exact_wins_over_normalised_and_embedding_only_runs_on_leftovers() -> None:
    resolver = EntityResolver(ENTITIES, EMBEDDINGS, threshold=0.5)
    # Embedding of the exact-matching name points elsewhere; it must be ignored.
    out = resolver.resolve(["amazon com gift card"], "Product", np.array([[0.0, 0, 1.0]]))
    assert (out[0].matched_by, out[0].key) == (MatchKind.EXACT, "item:B004")


def test_without_embeddings_unmatched_names_become_new_with_stable_keys() -> None:
    resolver = EntityResolver(ENTITIES)
    out = resolver.resolve(["Coffee Lovers", "coffee lover", "The Coffee-Lovers"], "Audience")
    assert {r.key for r in out} == {"Audience:coffee-lover"}
    assert all(r.matched_by is MatchKind.NEW and r.existing_key is None for r in out)
    assert new_entity_key("Audience", "Coffee Lovers") == "Audience:coffee-lover"


def test_threshold_and_shape_checks() -> None:
    resolver = EntityResolver(ENTITIES, EMBEDDINGS, threshold=0.8)
    above = resolver.resolve(["x"], "Product", np.array([[8.1, 5.8, 0]]))[0]  # cosine 0.813 with B001
    below = resolver.resolve(["x"], "Product", np.array([[7.9, 6.1, 0]]))[
        0
    ]  # 0.792 with B001, 0.611 with B002
    assert above.matched_by is MatchKind.EMBEDDING and above.key == "item:B001"
    assert above.similarity == pytest.approx(8.1 / np.hypot(8.1, 5.8))
    assert below.matched_by is MatchKind.NEW
    with pytest.raises(ValueError, match="name embeddings must have shape"):
        resolver.resolve(["x"], "Product", np.zeros((1, 5)))
    with pytest.raises(ValueError, match="embeddings must have shape"):
        EntityResolver(ENTITIES, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="nothing left after normalisation"):
        resolver.resolve(["???"], "Product")


def test_added_entities_resolve_like_initial_ones_and_first_names_still_win() -> None:
    grown = EntityResolver(ENTITIES[:1], EMBEDDINGS[:1], threshold=0.9)
    for entity, vector in zip(ENTITIES[1:], EMBEDDINGS[1:], strict=True):  # one at a time: the buffer grows
        grown.add([entity], vector[None, :])
    whole = EntityResolver(ENTITIES, EMBEDDINGS, threshold=0.9)
    names = ["Starbucks Gift Card", "the amazon.com gift-cards", "Birthday greeting", "Coffee Mug"]
    queries = np.array([[0.0, 0, 0], [0.0, 0, 0], [0.1, 0, 0.99], [0.6, 0.8, 0]])
    assert grown.resolve(names, "Product", queries) == whole.resolve(names, "Product", queries)
    assert len(grown) == 4
    # many more, past the initial capacity; the first "Greeting Card" (B003) keeps the name
    extra = [KnownEntity(f"item:X{i}", "Greeting Card" if i == 0 else f"thing {i}") for i in range(40)]
    grown.add(extra, np.tile([0.0, 0, 1.0], (40, 1)))
    assert grown.resolve(["greeting cards"], "Product")[0].key == "item:B003"
    assert grown.resolve(["zzz"], "Product", np.array([[0.0, 0, 1.0]]))[0].key == "item:B003"  # argmax: first
    assert len(grown) == 44


def test_add_checks_embeddings_and_the_threshold_can_change_per_call() -> None:
    resolver = EntityResolver(ENTITIES, EMBEDDINGS, threshold=0.8)
    with pytest.raises(ValueError, match="need them too"):
        resolver.add([KnownEntity("item:B9", "Mug")])
    with pytest.raises(ValueError, match="embedding dimension"):
        resolver.add([KnownEntity("item:B9", "Mug")], np.zeros((1, 5)))
    with pytest.raises(ValueError, match="no name embeddings"):
        EntityResolver(ENTITIES).add([KnownEntity("item:B9", "Mug")], np.ones((1, 3)))
    empty = EntityResolver([])
    empty.add([KnownEntity("item:B9", "Mug")], np.array([[0.0, 1.0, 0]]))  # an empty pool may start with them
    assert empty.resolve(["cup"], "Product", np.array([[0.0, 1.0, 0]]))[0].key == "item:B9"
    query = np.array([[7.9, 6.1, 0]])  # cosine 0.792 with B001
    assert resolver.resolve(["x"], "Product", query)[0].matched_by is MatchKind.NEW
    assert resolver.resolve(["x"], "Product", query, threshold=0.75)[0].key == "item:B001"
    with pytest.raises(ValueError, match="threshold"):
        resolver.resolve(["x"], "Product", query, threshold=1.5)
