"""Graph IO of the PAIR workers: κ_S retrieval, resolution pools, triple writes and per-source run state.

Every statement is a named file under ``cypher/mokg/``; this module turns rows into the small dataclasses the
mining code uses and back. Nothing here calls the LLM.

**Sources** are SupKG nodes named by a :class:`SourceRef` ``"<Type>:<id>"`` — ``Item:<asin>``,
``Category:<path>``, ``Store:<name>``. Once looked up, a source is addressed by its element id, so the writes
and state changes need one statement each rather than one per label.

**κ_S** is rendered here as short fact strings (store, categories, description, ratings, co-purchase and
co-view neighbours). For the accuracy proxy of ``mokg pair eval`` a share of the item-item pairs can be
*held out*: :func:`is_held_out` hashes the unordered pair, so a held-out ALSO_BOUGHT pair is hidden from both
items, and from their ALSO_VIEWED facts as well (otherwise the same pair would leak through co-views).

**Run state** lives on the source node: ``pair_status`` (pending / running / done / failed), ``pair_run``,
``pair_attempts`` (deliveries in this run), ``pair_failures`` (runs that failed it since it last finished; a new
run keeps it), ``pair_completions`` (finished runs), ``pair_at`` (last change, ISO-8601 UTC), ``pair_error``
and a summary of the last mining (triples, candidates, filtered, tokens). ``claim`` refuses a source already
done in the same run, which is what makes a redelivered message a no-op, and gives up on one delivered
:data:`MAX_DELIVERIES` times in the run (a message that kills its worker would otherwise come back forever).

**Resolution pools** are read here (a full pool, the Entities created since a time, which linked nodes still
exist); :mod:`mokg.pair.pools` keeps them per worker process.

**Triples** are relationships typed by the relation id (``(:Item)-[:TARGET_AUDIENCE]->(:Entity)``) carrying
the provenance; every PAIR-mined relationship has a ``run_id``. Targets are new or existing ``Entity`` nodes,
or existing SupKG ``Item``/``Store`` nodes when resolution linked them. Since relationship types cannot be
parameters, the merge statements hold one branch per relation; :func:`writable_relations` reads them back.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from mokg.clock import stamp
from mokg.graph import Graph, cypher

SOURCE_TYPES: tuple[str, ...] = ("Item", "Category", "Store")
STATUSES: tuple[str, ...] = ("never", "pending", "running", "done", "failed")
# Which SupKG nodes a mined target of a given type may link to (besides Entities of that type).
SUPKG_POOLS: dict[str, tuple[str, ...]] = {"Product": ("Item",), "Brand": ("Store",), "Store": ("Store",)}
_POOL_STATEMENT = {"Item": "mokg/pool_items", "Store": "mokg/pool_stores"}
_MERGE_BRANCH = re.compile(r"MERGE \(s\)-\[m:([A-Z_]+)\]->\(t\)")


@cache
def writable_relations() -> frozenset[str]:
    """The relation ids that both merge statements have a branch for."""
    found = [set(_MERGE_BRANCH.findall(cypher.load(f"mokg/merge_mined_{k}"))) for k in ("new", "existing")]
    return frozenset(found[0] & found[1])


@dataclass(frozen=True)
class SourceRef:
    """A source entity: its SupKG label and key (ASIN, category path or store name)."""

    type: str
    id: str

    def __post_init__(self) -> None:
        if self.type not in SOURCE_TYPES:
            raise ValueError(f"unknown source type {self.type!r}; expected one of {SOURCE_TYPES}")
        if not self.id:
            raise ValueError("a source needs a non-empty id")

    def __str__(self) -> str:
        return f"{self.type}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> SourceRef:
        kind, sep, key = text.partition(":")
        if not sep:
            raise ValueError(f"{text!r}: expected <Type>:<id>, e.g. Item:B001GXRQW0")
        return cls(kind, key)


@dataclass(frozen=True)
class SourceContext:
    """A source node (by element id) with its κ_S facts."""

    ref: SourceRef
    node_id: str
    name: str
    facts: tuple[str, ...]


@dataclass(frozen=True)
class PoolEntry:
    """An existing node a mined target may link to: ``ref`` is an Entity key or ``Item:<asin>``/``Store:<name>``."""

    ref: str
    name: str
    node_id: str


@dataclass(frozen=True)
class TripleWrite:
    """One mined triple ready to write: a new Entity (``node_id`` None) or an existing node."""

    relation: str
    target_ref: str
    target_name: str
    target_type: str
    node_id: str | None
    props: Mapping[str, Any]


# -- κ_S ---------------------------------------------------------------------------------------------------
def is_held_out(a: str, b: str, share: float, salt: str = "pair-holdout") -> bool:
    """Whether the unordered item pair {a, b} is held out: a hash below ``share`` (stable across runs)."""
    if share <= 0.0:
        return False
    lo, hi = sorted((a, b))
    digest = hashlib.sha256(f"{salt}|{lo}|{hi}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def _titles(links: Iterable[Mapping[str, Any]], hidden: set[str], limit: int) -> list[str]:
    # sorted for a stable prompt text (the LLM cache key) whatever order the server returns
    titles = sorted({str(x["title"]) for x in links if x.get("title") and x.get("asin") not in hidden})
    return titles[:limit]


def _item_facts(row: Mapping[str, Any], asin: str, holdout_share: float) -> list[str]:
    linked = {
        str(x["asin"]) for x in (row["also_bought"] or []) + (row["also_viewed"] or []) if x.get("asin")
    }
    hidden = {b for b in linked if is_held_out(asin, b, holdout_share)}
    facts = [f"Sold by: {s}" for s in sorted(row["stores"] or [])]
    facts += [f"Category: {c}" for c in sorted(row["categories"] or [])]
    if row.get("description"):
        facts.append(f"Description: {' '.join(str(row['description']).split())[:160]}")
    ratings = [float(r) for r in row["ratings"] or [] if r is not None]
    if ratings:
        facts.append(f"Average rating {sum(ratings) / len(ratings):.1f} of 5 from {len(ratings)} reviews")
    facts += [
        f"Customers who bought it also bought: {t}" for t in _titles(row["also_bought"] or [], hidden, 5)
    ]
    facts += [
        f"Customers who viewed it also viewed: {t}" for t in _titles(row["also_viewed"] or [], hidden, 3)
    ]
    return facts


def _top(values: Iterable[Any], limit: int) -> list[str]:
    """The most frequent values (ties by name), for 'sold by' and 'category' facts of groups of items."""
    counts = Counter(str(v) for v in values if v)
    return [v for v, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


def _flat(nested: Iterable[Iterable[Any]] | None) -> list[Any]:
    return [v for inner in nested or [] for v in inner or []]


def fetch_source(graph: Graph, ref: SourceRef, holdout_share: float = 0.0) -> SourceContext | None:
    """The source node and its κ_S facts; ``None`` when no such node (or an Item without a title) exists."""
    rows = graph.query(f"mokg/source_{ref.type.lower()}", id=ref.id)
    if not rows or rows[0]["node_id"] is None or not rows[0]["name"]:
        return None
    row = rows[0]
    if ref.type == "Item":
        facts = _item_facts(row, ref.id, holdout_share)
    elif ref.type == "Category":
        items = sorted({str(t) for t in row["items"] or [] if t})
        facts = [f"Category path: {row['path']}"]
        if row.get("parent"):
            facts.append(f"Parent category: {row['parent']}")
        facts.append(f"Number of items: {len(row['items'] or [])}")
        facts += [f"Sold by: {s}" for s in _top(_flat(row["stores"]), 5)]
        facts += [f"Example item: {t}" for t in items[:5]]
    else:
        items = sorted({str(t) for t in row["items"] or [] if t})
        facts = [f"Number of items sold: {len(row['items'] or [])}"]
        facts += [f"Category: {c}" for c in _top(_flat(row["categories"]), 3)]
        facts += [f"Example item: {t}" for t in items[:5]]
    return SourceContext(ref, str(row["node_id"]), str(row["name"]), tuple(facts))


# -- resolution pools ---------------------------------------------------------------------------------------
def load_pool(graph: Graph, target_type: str) -> list[PoolEntry]:
    """Existing nodes a target of ``target_type`` may link to: SupKG nodes first (they win name ties, so a
    product name equal to an item title links to the item), then the MoKG Entities of that type."""
    entries: list[PoolEntry] = []
    for label in SUPKG_POOLS.get(target_type, ()):
        rows = graph.query(_POOL_STATEMENT[label])
        entries += [PoolEntry(f"{label}:{r['id']}", str(r["name"]), str(r["node_id"])) for r in rows]
    rows = graph.query("mokg/pool_entities", type=target_type)
    entries += [PoolEntry(str(r["id"]), str(r["name"]), str(r["node_id"])) for r in rows if r["name"]]
    return entries


def entities_since(graph: Graph, since: str) -> list[tuple[str, PoolEntry]]:
    """(type, entry) of the MoKG Entities created at or after ``since`` (ISO-8601 UTC): a pool top-up."""
    rows = graph.query("mokg/pool_entities_since", since=since)
    return [
        (str(r["type"]), PoolEntry(str(r["id"]), str(r["name"]), str(r["node_id"])))
        for r in rows
        if r["name"]
    ]


def node_refs(labels: Iterable[str], key: Any, asin: Any, name: Any) -> set[str]:
    """The pool refs a node answers to: its Entity key, ``Item:<asin>``, ``Store:<name>``."""
    have = set(labels)
    refs = {str(key)} if "Entity" in have and key else set()
    refs |= {f"Item:{asin}"} if "Item" in have and asin else set()
    refs |= {f"Store:{name}"} if "Store" in have and name else set()
    return refs


def live_nodes(graph: Graph, linked: Mapping[str, str]) -> set[str]:
    """Of ``{element id: ref}``, the element ids whose node still exists and still answers to that ref
    (ArcadeDB reuses the element id of a deleted node, so existence alone proves nothing)."""
    if not linked:
        return set()
    rows = graph.query("mokg/pool_live", node_ids=list(linked))
    return {
        str(r["node_id"])
        for r in rows
        if linked.get(str(r["node_id"])) in node_refs(r["labels"] or (), r["key"], r["asin"], r["name"])
    }


# -- writes -------------------------------------------------------------------------------------------------
class StaleTargetError(RuntimeError):
    """A target node that resolution linked no longer exists (or is another node now): the task retries
    with a reloaded pool."""


@dataclass(frozen=True)
class Written:
    """What :func:`write_triples` wrote: triples, and (type, entry) of the new-entity targets as MERGEd
    (an entry's name is the stored one, which differs from the mined name when the key already existed)."""

    triples: int
    entities: tuple[tuple[str, PoolEntry], ...]


def write_triples(graph: Graph, source: SourceContext, triples: Sequence[TripleWrite]) -> Written:
    """MERGE the triples of one source (idempotent). Raises :class:`StaleTargetError` when an existing
    target vanished (or its element id now names another node) since it was resolved."""
    unknown = sorted({t.relation for t in triples} - writable_relations())
    if unknown:
        raise ValueError(f"no merge branch for relations {unknown} in cypher/mokg/merge_mined_*.cypher")
    new = [
        {
            "relation": t.relation,
            "key": t.target_ref,
            "name": t.target_name,
            "type": t.target_type,
            "at": t.props["at"],
            "run_id": t.props["run_id"],
            "props": dict(t.props),
        }
        for t in triples
        if t.node_id is None
    ]
    existing = [
        {
            "relation": t.relation,
            "node_id": t.node_id,
            "ref": t.target_ref,
            "at": t.props["at"],
            "props": dict(t.props),
        }
        for t in triples
        if t.node_id is not None
    ]
    entities: list[tuple[str, PoolEntry]] = []
    if new:  # one source's triples: a few dozen rows at most, one transaction
        rows = graph.execute("mokg/merge_mined_new", rows=new, source=source.node_id)
        entities = [
            (str(r["type"]), PoolEntry(str(r["key"]), str(r["name"]), str(r["node_id"]))) for r in rows
        ]
    written = len(entities)
    if existing:
        matched = graph.write_batches("mokg/merge_mined_existing", existing, source=source.node_id).returned
        if matched < len(existing):
            raise StaleTargetError(
                f"{len(existing) - matched} of {len(existing)} linked targets of {source.ref} no longer exist"
            )
        written += matched
    return Written(written, tuple(entities))


# -- run state ----------------------------------------------------------------------------------------------
MAX_DELIVERIES = 8
"""Deliveries of one source's message in one run before its claim gives up: the task's own tries (5) and a
few redeliveries after a lost worker."""


class Claim(enum.Enum):
    CLAIMED = "claimed"
    DONE = "done"  # already done in this run: skip
    GAVE_UP = "gave_up"  # delivered MAX_DELIVERIES times in this run: marked failed


def select_sources(
    graph: Graph,
    types: Sequence[str],
    limit: int,
    *,
    redo_before: str = "",
    stale_before: str = "",
    max_failures: int = 3,
) -> list[tuple[SourceRef, str]]:
    """(source, node id) of up to ``limit`` sources that need mining, spread over ``types`` in order: never
    expanded, failed by fewer than ``max_failures`` runs since they last finished, done before
    ``redo_before``, or pending/running since before ``stale_before`` (their message was lost). Empty
    cut-offs match nothing."""
    picked: list[tuple[SourceRef, str]] = []
    for kind in types:
        left = limit - len(picked)
        if left <= 0:
            break
        rows = graph.query(
            f"mokg/candidates_{kind.lower()}",
            limit=left,
            redo_before=redo_before,
            stale_before=stale_before,
            max_failures=max_failures,
        )
        picked += [(SourceRef(kind, str(r["id"])), str(r["node_id"])) for r in rows]
    return picked


def create_run(
    graph: Graph, run_id: str, config: Mapping[str, Any], types: Sequence[str], enqueued: int
) -> None:
    graph.execute(
        "mokg/create_run",
        run_id=run_id,
        at=stamp(),
        config=json.dumps(dict(config), sort_keys=True),
        types=list(types),
        enqueued=enqueued,
    )


def mark_pending(graph: Graph, node_ids: Sequence[str], run_id: str) -> int:
    rows = [{"node_id": n} for n in node_ids]
    return graph.write_batches("mokg/mark_pending", rows, run_id=run_id, at=stamp()).returned


def claim(
    graph: Graph, source: SourceContext, run_id: str, worker: str = "", max_deliveries: int = MAX_DELIVERIES
) -> Claim:
    """Mark the source running in this run, unless it is already done in this run (skip it) or this run
    delivered it ``max_deliveries`` times already (then it is marked failed here: give up)."""
    rows = graph.execute(
        "mokg/claim",
        node_id=source.node_id,
        run_id=run_id,
        at=stamp(),
        worker=worker,
        max_deliveries=max_deliveries,
        gave_up=f"gave up after {max_deliveries} deliveries (each lost its worker or failed)",
    )
    if not rows:
        return Claim.DONE
    return Claim.CLAIMED if rows[0]["claimed"] else Claim.GAVE_UP


def mark_done(graph: Graph, source: SourceContext, run_id: str, summary: Mapping[str, Any]) -> bool:
    """Mark the source done with a summary (``pair_*`` properties); True if it was already done in this run."""
    bad = [k for k in summary if not k.startswith("pair_")]
    if bad:
        raise ValueError(f"summary keys must start with pair_: {bad}")
    rows = graph.execute(
        "mokg/mark_done", node_id=source.node_id, run_id=run_id, at=stamp(), summary=dict(summary)
    )
    return bool(rows and rows[0]["already"])


def mark_failed(graph: Graph, node_id: str, run_id: str, error: str) -> None:
    graph.execute("mokg/mark_failed", node_id=node_id, run_id=run_id, at=stamp(), error=error[:1000])


@dataclass(frozen=True)
class StatusRow:
    type: str
    run: str | None
    status: str
    n: int
    triples: int
    candidates: int


@dataclass(frozen=True)
class RunRow:
    run: str
    started_at: str
    enqueued: int
    types: tuple[str, ...]
    config: dict[str, Any]


@dataclass(frozen=True)
class FailureRow:
    type: str
    id: str
    run: str | None
    attempts: int  # deliveries in its last run
    at: str | None
    error: str | None
    failures: int = 0  # runs that failed it since it last finished


@dataclass(frozen=True)
class Status:
    counts: tuple[StatusRow, ...]
    runs: tuple[RunRow, ...]
    failures: tuple[FailureRow, ...]
    relations: tuple[tuple[str, int, int], ...]  # (relation, triples, distinct targets)

    def by_type(self) -> dict[str, dict[str, int]]:
        """Sources per type and status (every status present, zeros included)."""
        out: dict[str, dict[str, int]] = {t: dict.fromkeys(STATUSES, 0) for t in SOURCE_TYPES}
        for row in self.counts:
            out[row.type][row.status] = out[row.type].get(row.status, 0) + row.n
        return out

    def by_run(self, run: str) -> dict[str, int]:
        out = dict.fromkeys(STATUSES[1:], 0)
        for row in self.counts:
            if row.run == run:
                out[row.status] = out.get(row.status, 0) + row.n
        return out


def run_counts(graph: Graph, run_id: str) -> dict[str, int]:
    """Sources of one run per status (pending, running, done, failed); an index lookup on ``pair_run``."""
    out = dict.fromkeys(STATUSES[1:], 0)
    for r in graph.query("mokg/run_counts", run_id=run_id):
        out[str(r["status"])] = out.get(str(r["status"]), 0) + int(r["n"])
    return out


def source_counts(graph: Graph) -> tuple[StatusRow, ...]:
    """Sources per type, run and status."""
    return tuple(
        StatusRow(
            str(r["type"]), r["run"], str(r["status"]), int(r["n"]), int(r["triples"]), int(r["candidates"])
        )
        for r in graph.query("mokg/status_counts")
    )


def status(graph: Graph, runs: int = 5) -> Status:
    counts = source_counts(graph)
    run_rows = tuple(
        RunRow(
            str(r["run"]),
            str(r["started_at"]),
            int(r["enqueued"] or 0),
            tuple(r["types"] or ()),
            json.loads(r["config"]) if r["config"] else {},
        )
        for r in graph.query("mokg/status_runs", limit=runs)
    )
    failures = tuple(
        FailureRow(
            str(r["type"]),
            str(r["id"]),
            r["run"],
            int(r["attempts"] or 0),
            r["at"],
            r["error"],
            int(r["failures"] or 0),
        )
        for r in graph.query("mokg/status_failures")
    )
    relations = tuple(
        (str(r["relation"]), int(r["triples"]), int(r["targets"]))
        for r in graph.query("mokg/status_relations")
    )
    return Status(counts, run_rows, failures, relations)


@dataclass(frozen=True)
class RunUsage:
    sources: int
    calls: int
    cached: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    triples: int


def run_usage(graph: Graph, run_id: str) -> RunUsage:
    """Totals over the Item sources a run finished: LLM calls and tokens, mining seconds, triples."""
    row = graph.query("mokg/run_usage", run_id=run_id)[0]
    return RunUsage(
        int(row["sources"] or 0),
        int(row["calls"] or 0),
        int(row["cached"] or 0),
        int(row["prompt_tokens"] or 0),
        int(row["completion_tokens"] or 0),
        float(row["seconds"] or 0.0),
        int(row["triples"] or 0),
    )


def supkg_text_triples(graph: Graph) -> list[tuple[str, str, str]]:
    """SupKG triples as (source title, relation id, target name): the scorer's positives."""
    return [
        (str(r["source"]), str(r["relation"]), str(r["target"])) for r in graph.query("mokg/supkg_triples")
    ]
