"""The PAIR relation schema: domain knowledge κ_D and the bounded candidate sets R_s (§ Relation Selection).

The schema lives in ``relations.json`` next to this module and is validated on load, so a typo in a type or
relation name fails at start-up with the offending path instead of silently producing empty candidate sets.
Relation ids are stable UPPER_SNAKE strings; they are what the LLM selects, what the graph stores and what
provenance records, so they must never be renamed once data exists.

``supkg_relations`` describes relations that already exist in the SupKG (e.g. ``ALSO_BOUGHT``); they are never
mining candidates but :meth:`RelationSchema.describe` covers them so that scorer training text
("s [SEP] relation description [SEP] t") reads the same for SupKG and mined triples.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

RELATION_ID = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")
TYPE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_TOP_LEVEL = {"version", "entity_types", "relations", "candidates", "supkg_relations"}


class SchemaError(ValueError):
    """The relation schema file is malformed; the message names the offending path."""


@dataclass(frozen=True)
class EntityType:
    name: str
    description: str
    is_source: bool


@dataclass(frozen=True)
class RelationSpec:
    """One relation of the schema. ``target_type`` is ``None`` only for SupKG relations."""

    id: str
    label: str
    description: str
    target_type: str | None


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.load keeps the last duplicate silently; a duplicated relation id is almost always an editing error.
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise SchemaError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SchemaError(f"{where}: expected a non-empty string, got {value!r}")
    return value.strip()


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not value:
        raise SchemaError(f"{where}: expected a non-empty object")
    return value


def _check_keys(entry: Mapping[str, Any], allowed: set[str], required: set[str], where: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise SchemaError(f"{where}: unknown keys {unknown} (allowed: {sorted(allowed)})")
    missing = sorted(required - set(entry))
    if missing:
        raise SchemaError(f"{where}: missing keys {missing}")


class RelationSchema:
    """Entity types, mining relations and the candidate relation set R_s of every source type."""

    def __init__(
        self,
        version: str,
        entity_types: Mapping[str, EntityType],
        relations: Mapping[str, RelationSpec],
        candidates: Mapping[str, tuple[str, ...]],
        supkg_relations: Mapping[str, RelationSpec],
    ) -> None:
        self.version = version
        self.entity_types = dict(entity_types)
        self.relations = dict(relations)
        self.supkg_relations = dict(supkg_relations)
        self._candidates = dict(candidates)

    def narrowed(self, relations: Sequence[str]) -> RelationSchema:
        """This schema with every candidate set R_s cut down to ``relations`` (empty: unchanged); prompts then
        list only those."""
        if not relations:
            return self
        candidates = {t: tuple(r for r in ids if r in relations) for t, ids in self._candidates.items()}
        return RelationSchema(
            self.version, self.entity_types, self.relations, candidates, self.supkg_relations
        )

    # -- loading
    @classmethod
    def load(cls, path: str | Path | None = None) -> RelationSchema:
        """Read and validate a schema file; ``None`` reads the ``relations.json`` shipped with the package."""
        if path is None:
            text = resources.files(__package__).joinpath("relations.json").read_text(encoding="utf-8")
            origin = "mokg/pair/relations.json"
        else:
            text = Path(path).read_text(encoding="utf-8")
            origin = str(path)
        try:
            data = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"{origin}: invalid JSON: {exc}") from exc
        except SchemaError as exc:
            raise SchemaError(f"{origin}: {exc}") from exc
        try:
            return cls.from_dict(data)
        except SchemaError as exc:
            raise SchemaError(f"{origin}: {exc}") from exc

    @classmethod
    def from_dict(cls, data: Any) -> RelationSchema:
        root = _mapping(data, "<root>")
        _check_keys(root, _TOP_LEVEL, {"version", "entity_types", "relations", "candidates"}, "<root>")
        version = _text(root["version"], "version")

        entity_types: dict[str, EntityType] = {}
        for name, entry in _mapping(root["entity_types"], "entity_types").items():
            where = f"entity_types.{name}"
            if not TYPE_NAME.match(name):
                raise SchemaError(f"{where}: type names are CamelCase identifiers")
            entry = _mapping(entry, where)
            _check_keys(entry, {"description", "source"}, {"description"}, where)
            is_source = entry.get("source", False)
            if not isinstance(is_source, bool):
                raise SchemaError(f"{where}.source: expected true or false, got {is_source!r}")
            entity_types[name] = EntityType(
                name, _text(entry["description"], f"{where}.description"), is_source
            )

        relations = cls._relations(root["relations"], "relations", entity_types)
        supkg = (
            cls._relations(root["supkg_relations"], "supkg_relations", None)
            if "supkg_relations" in root
            else {}
        )
        clash = sorted(set(relations) & set(supkg))
        if clash:
            raise SchemaError(f"supkg_relations: ids {clash} are also mining relations")

        candidates: dict[str, tuple[str, ...]] = {}
        for source, ids in _mapping(root["candidates"], "candidates").items():
            where = f"candidates.{source}"
            if source not in entity_types:
                raise SchemaError(f"{where}: {source!r} is not a declared entity type")
            if not entity_types[source].is_source:
                raise SchemaError(f'{where}: entity type {source!r} is not marked "source": true')
            if not isinstance(ids, list) or not ids:
                raise SchemaError(f"{where}: expected a non-empty list of relation ids")
            for rel in ids:
                if rel not in relations:
                    raise SchemaError(f"{where}: {rel!r} is not a declared relation")
            if len(set(ids)) != len(ids):
                raise SchemaError(f"{where}: a relation is listed twice")
            candidates[source] = tuple(ids)
        sources_without = sorted(n for n, t in entity_types.items() if t.is_source and n not in candidates)
        if sources_without:
            raise SchemaError(f"candidates: source types {sources_without} have no candidate relations")
        unused = sorted(set(relations) - {r for ids in candidates.values() for r in ids})
        if unused:
            raise SchemaError(f"relations: {unused} are not a candidate of any source type")
        return cls(version, entity_types, relations, candidates, supkg)

    @staticmethod
    def _relations(
        block: Any, where: str, entity_types: Mapping[str, EntityType] | None
    ) -> dict[str, RelationSpec]:
        """Parse a relation block; ``entity_types=None`` marks SupKG relations (no target type)."""
        allowed = {"label", "description"} | ({"target_type"} if entity_types is not None else set())
        out: dict[str, RelationSpec] = {}
        for rel_id, entry in _mapping(block, where).items():
            at = f"{where}.{rel_id}"
            if not RELATION_ID.match(rel_id):
                raise SchemaError(f"{at}: relation ids are UPPER_SNAKE (e.g. TARGET_AUDIENCE)")
            entry = _mapping(entry, at)
            _check_keys(entry, allowed, allowed, at)
            target: str | None = None
            if entity_types is not None:
                target = _text(entry["target_type"], f"{at}.target_type")
                if target not in entity_types:
                    raise SchemaError(f"{at}.target_type: {target!r} is not a declared entity type")
            out[rel_id] = RelationSpec(
                rel_id,
                _text(entry["label"], f"{at}.label"),
                _text(entry["description"], f"{at}.description"),
                target,
            )
        return out

    # -- queries
    @property
    def source_types(self) -> tuple[str, ...]:
        return tuple(self._candidates)

    def entity_type(self, name: str) -> EntityType:
        try:
            return self.entity_types[name]
        except KeyError:
            raise KeyError(f"unknown entity type {name!r}; known: {sorted(self.entity_types)}") from None

    def relation(self, relation_id: str) -> RelationSpec:
        """A mining or SupKG relation by id."""
        spec = self.relations.get(relation_id) or self.supkg_relations.get(relation_id)
        if spec is None:
            known = sorted(self.relations) + sorted(self.supkg_relations)
            raise KeyError(f"unknown relation {relation_id!r}; known: {known}")
        return spec

    def candidates(self, entity_type: str) -> tuple[RelationSpec, ...]:
        """R_s: the relations the LLM may select for a source of ``entity_type``, in schema order."""
        try:
            ids = self._candidates[entity_type]
        except KeyError:
            raise KeyError(
                f"{entity_type!r} is not a source type; source types: {list(self._candidates)}"
            ) from None
        return tuple(self.relations[r] for r in ids)

    def candidate_ids(self, entity_type: str) -> tuple[str, ...]:
        return tuple(spec.id for spec in self.candidates(entity_type))

    def describe(self, relation_id: str) -> str:
        """``"Label: description"`` of a mining or SupKG relation (prompt text and scorer triple text)."""
        spec = self.relation(relation_id)
        return f"{spec.label}: {spec.description}"
