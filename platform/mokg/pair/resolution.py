"""Entity resolution for mined targets: normalise a generated name, then link it to an existing entity.

Linking tries, in order, exact name → normalised name → embedding cosine ≥ threshold, and only then mints a
new entity. New keys are ``"<Type>:<normalised-name-with-dashes>"`` so surface variants ("The Gift Cards",
"gift card") always map to the same new node, across runs and workers, without a lookup.

The resolver is type-agnostic: the caller passes the pool of existing entities a target may link to (e.g.
Items for a ``Product`` target, Stores for a ``Store`` target) and the embeddings of those entities' names.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from mokg.vectors import unit_rows

_ARTICLES = frozenset({"the", "a", "an"})
_IRREGULAR = {
    "men": "man",
    "women": "woman",
    "children": "child",
    "people": "person",
    "feet": "foot",
    "teeth": "tooth",
    "mice": "mouse",
    "geese": "goose",
}
# Words whose plural form is also the singular (or that only look plural); left untouched.
_INVARIANT = frozenset(
    {
        "series",
        "species",
        "news",
        "scissors",
        "pants",
        "jeans",
        "shorts",
        "leggings",
        "sunglasses",
        "cosmetics",
    }
)
# Singulars ending in "ie": "cookies" must become "cookie", not "cooky".
_IE_SINGULAR = frozenset(
    {
        "cookie", "movie", "brownie", "smoothie", "selfie", "zombie", "calorie", "hippie", "rookie", "goodie",
        "veggie", "techie", "foodie", "newbie", "genie", "pie", "tie", "lie", "auntie", "sweetie", "beanie",
        "hoodie", "onesie", "bootie", "freebie", "roadie", "indie",
    }
)  # fmt: skip
_POSSESSIVE = re.compile(r"['’`´]s\b")
_APOSTROPHES = re.compile(r"['’`´]")
_NON_WORD = re.compile(r"[^\w\s]|_")


def singularize(word: str) -> str:
    """A deliberately simple English singulariser for lower-case words (both sides of a match use it)."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or word in _INVARIANT or not word.endswith("s") or word.isdigit():
        return word
    if word.endswith("ies"):
        return word[:-1] if word[:-1] in _IE_SINGULAR else word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith(("ss", "us", "is")):
        return word
    return word[:-1]


def normalize_name(name: str) -> str:
    """Canonical match form: HTML entities decoded, NFKC, case-folded, punctuation removed, whitespace
    collapsed, one leading article dropped, every word singularised. ``""`` for names without any word."""
    text = name
    for _ in range(3):  # scraped text is sometimes double-escaped ("&amp;amp;")
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    text = unicodedata.normalize("NFKC", text).casefold().replace("&", " and ")
    # "women's" -> "women" (then "woman"), "o'clock" -> "oclock"
    text = _NON_WORD.sub(" ", _APOSTROPHES.sub("", _POSSESSIVE.sub("", text)))
    tokens = text.split()
    if len(tokens) > 1 and tokens[0] in _ARTICLES:
        tokens = tokens[1:]
    return " ".join(singularize(t) for t in tokens)


def new_entity_key(entity_type: str, name: str) -> str:
    """Stable key of a newly created entity: type plus normalised name."""
    normalized = normalize_name(name)
    if not normalized:
        raise ValueError(f"cannot build an entity key from {name!r}: nothing left after normalisation")
    return f"{entity_type}:{normalized.replace(' ', '-')}"


class MatchKind(StrEnum):
    EXACT = "exact"
    NORMALIZED = "normalized"
    EMBEDDING = "embedding"
    NEW = "new"


@dataclass(frozen=True)
class KnownEntity:
    """An entity already in the graph that mined names may link to."""

    key: str
    name: str


@dataclass(frozen=True)
class Resolution:
    """Outcome for one name: ``key`` is ``existing_key`` when linked, else the new entity's key."""

    name: str
    key: str
    matched_by: MatchKind
    existing_key: str | None
    similarity: float | None = None


def _check_threshold(threshold: float) -> None:
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a cosine in [-1, 1], got {threshold}")


class EntityResolver:
    """Links names to ``entities``; with several entities sharing a name the first one given wins.

    :meth:`add` appends entities in place (a worker's pool grows as entities are created), so the
    normalised names of the existing ones are never recomputed; the unit vectors live in a buffer that
    doubles when full, so adding is amortised O(added)."""

    def __init__(
        self,
        entities: Sequence[KnownEntity],
        embeddings: np.ndarray | None = None,
        threshold: float = 0.85,
    ) -> None:
        _check_threshold(threshold)
        self.threshold = threshold
        self.entities: list[KnownEntity] = []
        self._exact: dict[str, str] = {}
        self._normalized: dict[str, str] = {}
        self._vectors: np.ndarray | None = None  # unit rows; capacity >= len(entities)
        self.add(entities, embeddings)

    def __len__(self) -> int:
        return len(self.entities)

    @property
    def _unit(self) -> np.ndarray | None:
        return None if self._vectors is None else self._vectors[: len(self.entities)]

    def add(self, entities: Sequence[KnownEntity], embeddings: np.ndarray | None = None) -> None:
        """Append ``entities`` (their name vectors aligned in ``embeddings``). Names already known keep
        their first entity. Either every entity has a vector or none has."""
        if not entities:
            return
        if embeddings is None:
            if self._vectors is not None:
                raise ValueError("this resolver has name embeddings: new entities need them too")
        else:
            emb = np.asarray(embeddings, dtype=np.float64)
            if emb.ndim != 2 or emb.shape[0] != len(entities):
                raise ValueError(f"embeddings must have shape ({len(entities)}, dim), got {tuple(emb.shape)}")
            if self._vectors is None and self.entities:
                raise ValueError("this resolver has no name embeddings: cannot add entities with them")
            self._append_vectors(unit_rows(emb, emb.dtype))
        for entity in entities:
            self.entities.append(entity)
            self._exact.setdefault(entity.name.strip(), entity.key)
            normalized = normalize_name(entity.name)
            if normalized:
                self._normalized.setdefault(normalized, entity.key)

    def _append_vectors(self, unit: np.ndarray) -> None:
        n, need = len(self.entities), len(self.entities) + unit.shape[0]
        if self._vectors is not None and self._vectors.shape[1] != unit.shape[1]:
            raise ValueError(f"embedding dimension {unit.shape[1]} != {self._vectors.shape[1]}")
        if self._vectors is None or need > self._vectors.shape[0]:
            grown = np.empty((max(need, 2 * n, 16), unit.shape[1]), dtype=np.float64)
            if self._vectors is not None:
                grown[:n] = self._vectors[:n]
            self._vectors = grown
        self._vectors[n:need] = unit

    def resolve(
        self,
        names: Sequence[str],
        entity_type: str,
        embeddings: np.ndarray | None = None,
        threshold: float | None = None,
    ) -> list[Resolution]:
        """Resolve ``names`` (new ones typed ``entity_type``); ``embeddings`` are the names' vectors, aligned
        with ``names``, and are only consulted for names that no exact or normalised match links.
        ``threshold`` overrides the resolver's cosine threshold for this call (a shared pool serves
        mining configurations with different link thresholds)."""
        if threshold is not None:
            _check_threshold(threshold)
        out: list[Resolution | None] = [None] * len(names)
        pending: list[int] = []
        for i, name in enumerate(names):
            normalized = normalize_name(name)
            if not normalized:
                raise ValueError(f"cannot resolve {name!r}: nothing left after normalisation")
            if (key := self._exact.get(name.strip())) is not None:
                out[i] = Resolution(name, key, MatchKind.EXACT, key, 1.0)
            elif (key := self._normalized.get(normalized)) is not None:
                out[i] = Resolution(name, key, MatchKind.NORMALIZED, key, 1.0)
            else:
                pending.append(i)

        linked = self._embedding_matches(
            pending, names, embeddings, self.threshold if threshold is None else threshold
        )
        for i in pending:
            match = linked.get(i)
            if match is not None:
                key = self.entities[match[0]].key
                out[i] = Resolution(names[i], key, MatchKind.EMBEDDING, key, match[1])
            else:
                out[i] = Resolution(names[i], new_entity_key(entity_type, names[i]), MatchKind.NEW, None)
        return [r for r in out if r is not None]

    def _embedding_matches(
        self, pending: list[int], names: Sequence[str], embeddings: np.ndarray | None, threshold: float
    ) -> dict[int, tuple[int, float]]:
        """Best existing entity (index, cosine) per pending name whose cosine reaches the threshold."""
        unit = self._unit
        if not pending or embeddings is None or unit is None or not len(self.entities):
            return {}
        query = np.asarray(embeddings, dtype=np.float64)
        if query.ndim != 2 or query.shape[0] != len(names) or query.shape[1] != unit.shape[1]:
            raise ValueError(
                f"name embeddings must have shape ({len(names)}, {unit.shape[1]}), got {tuple(query.shape)}"
            )
        sims = unit_rows(query[pending], query.dtype) @ unit.T
        best = sims.argmax(axis=1)
        best_sim = sims[np.arange(len(pending)), best]
        return {
            i: (int(b), float(s)) for i, b, s in zip(pending, best, best_sim, strict=True) if s >= threshold
        }
