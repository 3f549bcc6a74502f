"""LightPAIR's distillation data: PAIR's kept triples as chat-format JSONL records (``mokg pair distill``).

One record per done source with kept triples::

    {"messages": [system, user, assistant], "source": "Item:B00…", "relations": ["OCCASION", …],
     "task": "source_pass", "provenance": {"prompt_id": …, "run_ids": […], "models": […],
                    "targets": [{relation, name, run_id, model, votes, vote_share, plausibility, score, …}, …]}}

* **system + user** are the one-pass prompt a LightPAIR miner sends
  (:func:`~mokg.pair.prompts.build_source_pass_prompt`): the source, its κ_S facts exactly as
  :func:`mokg.pair.store.fetch_source` renders them for the miner (no item pair held out: mining runs hide
  nothing, only ``mokg pair eval`` does) and the candidate relations R_s with descriptions and target types.
  R_s is the one the teacher mined over: the run that finished the source may have narrowed it (``relations``),
  and then the prompt lists only those, so the answer is complete for the question asked.
* **assistant** is the answer, in the shape of :func:`~mokg.pair.prompts.source_pass_schema`:
  ``{"relations": [{"relation": id, "targets": [names]}]}``, the relations with kept triples, the one with the
  best kept score first (so the order a student names them in carries its confidence, which ``--max-relations``
  keeps), each with the names PAIR mined and kept (votes, plausibility, resolution), best score first, at most
  ``max_targets`` as the prompt asks. A student learns in one answer both which relations apply (PAIR's
  bounded selection) and their targets.
* **Kept** triples are the relationships written by ``cypher/mokg/merge_mined_*.cypher`` (they carry a
  ``run_id``) on sources whose ``pair_status`` is ``done``; ``run_id`` narrows both to one run. Re-mining
  never deletes, so a source may hold targets of several runs: each target carries its own run. Runs of
  ``miner="lightpair"`` are never teacher data: their sources and triples are left out and counted, so a
  student is never trained on its own answers.

Records are sorted by source key and split into train and validation **by source**, by a hash of the key: the
split of a source never changes when others are added. Done sources without kept triples are listed in the
manifest, never dropped silently, and so is any triple no record could hold (a source node gone, a relation
outside the R_s its teacher run mined over).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mokg.clock import stamp
from mokg.graph import Graph
from mokg.pair import store
from mokg.pair.config import MiningConfig
from mokg.pair.prompts import SOURCE_PASS, SOURCE_PASS_ID, SourceEntity, build_source_pass_prompt
from mokg.pair.schema import RelationSchema
from mokg.pair.store import SourceContext, SourceRef

SPLIT_SALT = "lightpair-split"
MANIFEST_VERSION = 2  # 1: a record per (source, relation) and relation selections, before the source pass
# provenance kept per target (merge_mined_* writes these; see MiningResult.writes)
_PROVENANCE_KEYS = (
    "run_id",
    "model",
    "votes",
    "vote_share",
    "plausibility",
    "scorer_plausibility",
    "type_fit",
    "score",
    "scorer",
    "steps",
    "prompt_ids",
    "matched_by",
    "at",
)


@dataclass(frozen=True)
class KeptTriple:
    """One PAIR-mined relationship as read from the graph: the mined name, the target node's ref
    (Entity key, ``Item:<asin>`` or ``Store:<name>``) and the relationship's provenance properties."""

    source: str
    relation: str
    name: str
    target: str
    props: Mapping[str, Any]

    @property
    def score(self) -> float:
        value = self.props.get("score")
        return float(value) if value is not None else 0.0


@dataclass(frozen=True)
class Skipped:
    source: str
    relation: str
    reason: str


@dataclass
class Dataset:
    train: list[dict[str, Any]] = field(default_factory=list)
    val: list[dict[str, Any]] = field(default_factory=list)
    sources_done: int = 0
    without_triples: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    capped_targets: int = 0  # kept targets beyond max_targets, left out of an answer
    by_student: list[str] = field(default_factory=list)  # done sources whose last run was LightPAIR's
    triples_by_student: int = 0  # kept triples a LightPAIR run wrote, left out

    def sources(self, split: str) -> list[str]:
        return sorted({r["source"] for r in (self.train if split == "train" else self.val)})


# -- pure part ----------------------------------------------------------------------------------------------
def split_of(source: str, val_share: float, salt: str = SPLIT_SALT) -> str:
    """``"val"`` or ``"train"`` for a source key: a hash below ``val_share`` (stable across runs and graphs)."""
    if not 0.0 <= val_share <= 1.0:
        raise ValueError(f"val_share must lie in [0, 1], got {val_share}")
    digest = hashlib.sha256(f"{salt}|{source}".encode()).digest()
    return "val" if int.from_bytes(digest[:8], "big") / 2**64 < val_share else "train"


def target_ref(labels: Iterable[str], key: Any, asin: Any, name: Any) -> str:
    """The ref a target node answers to (as resolution names it): Entity key, Item:<asin> or Store:<name>."""
    refs = store.node_refs(labels, key, asin, name)
    return min(refs) if refs else ""


def triple_from_row(row: Mapping[str, Any]) -> KeptTriple:
    """A row of ``cypher/mokg/distill_triples.cypher`` as a :class:`KeptTriple`."""
    props = dict(row["props"] or {})
    ref = target_ref(row["labels"] or (), row["key"], row["asin"], row["t_name"])
    # the name the miner kept; a triple written before `name` was recorded falls back to the node's name
    name = str(props.get("name") or row["t_name"] or row["t_title"] or ref)
    source = str(SourceRef(str(row["type"]), str(row["id"])))
    return KeptTriple(source, str(row["relation"]), name, ref, props)


def build_record(
    source: SourceContext,
    triples: Sequence[KeptTriple],
    schema: RelationSchema,
    max_targets: int,
    max_facts: int,
) -> dict[str, Any]:
    """The chat record of one source: the one-pass prompt over ``schema``'s R_s and the kept names of each
    relation as the answer. Raises ValueError when a triple's relation is not a candidate of the source."""
    prompt = build_source_pass_prompt(
        SourceEntity(source.name, source.ref.type),
        schema,
        source.facts,
        max_targets=max_targets,
        max_facts=max_facts,
    )
    candidates = schema.candidate_ids(source.ref.type)
    outside = sorted({t.relation for t in triples} - set(candidates))
    if outside:
        raise ValueError(f"relations {outside} are not candidates of {source.ref.type} here")
    lists: list[list[KeptTriple]] = []
    for relation in candidates:
        # best first, then by name: the same graph gives the same file; one name once (two runs may keep it)
        ranked: list[KeptTriple] = []
        seen: set[str] = set()
        mine = [t for t in triples if t.relation == relation]
        for t in sorted(mine, key=lambda t: (-t.score, t.name, t.target)):
            if t.name not in seen:
                seen.add(t.name)
                ranked.append(t)
        if ranked:
            lists.append(ranked[:max_targets])
    lists.sort(key=lambda ts: -ts[0].score)  # the surest relation first; equal scores keep schema order
    answer = [{"relation": ts[0].relation, "targets": [t.name for t in ts]} for ts in lists]
    kept = [t for ts in lists for t in ts]
    content = json.dumps({"relations": answer}, ensure_ascii=False)
    return {
        "messages": [*prompt.messages, {"role": "assistant", "content": content}],
        "source": str(source.ref),
        "relations": [a["relation"] for a in answer],
        "task": SOURCE_PASS,
        "provenance": {
            "prompt_id": prompt.id,
            "run_ids": sorted({str(t.props["run_id"]) for t in kept if t.props.get("run_id")}),
            "models": sorted({str(t.props["model"]) for t in kept if t.props.get("model")}),
            "targets": [
                {"relation": t.relation, "name": t.name, "target": t.target}
                | {k: t.props.get(k) for k in _PROVENANCE_KEYS}
                for t in kept
            ],
        },
    }


def build_dataset(
    done: Sequence[str],
    triples: Sequence[KeptTriple],
    contexts: Mapping[str, SourceContext | None],
    schema: RelationSchema,
    *,
    val_share: float = 0.2,
    max_targets: int | None = None,
    max_facts: int | None = None,
    narrowed: Mapping[str, Sequence[str]] | None = None,
) -> Dataset:
    """Records of the ``done`` sources (keys) from their kept ``triples``, split by source.

    ``contexts`` holds each source's κ_S (``None``: the node is gone). ``narrowed`` gives, by source key, the
    relations its finishing run narrowed R_s to (absent or empty: the whole R_s); a triple of another
    relation is skipped, with its reason. Triples of sources not in ``done`` are ignored (a source being
    re-mined is not a finished teacher answer)."""
    narrowed = narrowed or {}
    if not 0.0 <= val_share <= 1.0:  # before any work, also when there is nothing to split
        raise ValueError(f"val_share must lie in [0, 1], got {val_share}")
    defaults = MiningConfig()
    max_targets = max_targets or defaults.max_targets
    max_facts = max_facts or defaults.max_facts
    grouped: dict[str, list[KeptTriple]] = defaultdict(list)
    finished = set(done)
    for t in triples:
        if t.source in finished:
            grouped[t.source].append(t)
    data = Dataset(sources_done=len(finished))
    data.without_triples = sorted(finished - set(grouped))
    for key in sorted(grouped):  # a stable order
        context = contexts.get(key)
        if context is None:
            data.skipped += [
                Skipped(key, r, "source node not found") for r in sorted({t.relation for t in grouped[key]})
            ]
            continue
        asked = schema.narrowed(narrowed.get(key, ()))
        try:
            candidates = set(asked.candidate_ids(context.ref.type))
        except (KeyError, ValueError) as e:  # the schema no longer mines this source type
            data.skipped.append(Skipped(key, "", str(e)))
            continue
        inside = [t for t in grouped[key] if t.relation in candidates]
        for relation in sorted({t.relation for t in grouped[key]} - candidates):
            data.skipped.append(
                Skipped(
                    key,
                    relation,
                    f"not a candidate relation of {context.ref.type} in the R_s its run mined over",
                )
            )
        if not inside:
            continue
        try:
            record = build_record(context, inside, asked, max_targets, max_facts)
        except (KeyError, ValueError) as e:  # the schema changed since the mining
            data.skipped += [Skipped(key, r, str(e)) for r in sorted({t.relation for t in inside})]
            continue
        names = {(t.relation, t.name) for t in inside}
        data.capped_targets += len(names) - len(record["provenance"]["targets"])
        (data.val if split_of(key, val_share) == "val" else data.train).append(record)
    return data


def _write_jsonl(path: Path, records: Sequence[Mapping[str, Any]]) -> str:
    """Write one JSON object a line; the SHA-256 of the bytes written."""
    body = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records).encode()
    path.write_bytes(body)
    return hashlib.sha256(body).hexdigest()


def write_dataset(
    data: Dataset,
    out: Path,
    *,
    val_share: float,
    run_id: str = "",
    schema_version: str = "",
    max_targets: int | None = None,
    max_facts: int | None = None,
) -> dict[str, Any]:
    """Write ``train.jsonl``, ``val.jsonl`` and ``manifest.json`` under ``out``; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, Any]] = {}
    for split, records in (("train", data.train), ("val", data.val)):
        digest = _write_jsonl(out / f"{split}.jsonl", records)
        files[f"{split}.jsonl"] = {
            "records": len(records),
            "sources": len(data.sources(split)),
            "sha256": digest,
        }
    # one hash over both files: what a trained adapter records as its data
    data_sha256 = hashlib.sha256(
        "\n".join(f"{n} {f['sha256']}" for n, f in sorted(files.items())).encode()
    ).hexdigest()
    defaults = MiningConfig()
    manifest: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "created_at": stamp(),
        "run_id": run_id or None,
        "split": {"by": "source", "val_share": val_share, "salt": SPLIT_SALT},
        "prompt": {"template": SOURCE_PASS, "id": SOURCE_PASS_ID, "schema_version": schema_version},
        "max_targets": max_targets or defaults.max_targets,
        "max_facts": max_facts or defaults.max_facts,
        "counts": {
            "sources_done": data.sources_done,
            "sources_with_triples": data.sources_done - len(data.without_triples),
            "sources_without_triples": len(data.without_triples),
            "records": len(data.train) + len(data.val),
            "train": len(data.train),
            "val": len(data.val),
            "targets": sum(len(r["provenance"].get("targets", ())) for r in data.train + data.val),
            "capped_targets": data.capped_targets,
            "sources_by_student": len(data.by_student),
            "triples_by_student": data.triples_by_student,
            "skipped": len(data.skipped),
        },
        "files": files,
        "data_sha256": data_sha256,
        "sources_without_triples": data.without_triples,
        "sources_by_student": data.by_student,
        "skipped": [{"source": s.source, "relation": s.relation, "reason": s.reason} for s in data.skipped],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


def run_config(value: Any) -> dict[str, Any]:
    """A ``PairRun``'s ``config`` property (JSON text) as a dict; ``{}`` when absent or unreadable."""
    try:
        config = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        return {}
    return dict(config) if isinstance(config, Mapping) else {}


# -- graph IO -----------------------------------------------------------------------------------------------
def export(
    graph: Graph,
    out: Path,
    *,
    val_share: float = 0.2,
    run_id: str = "",
    schema: RelationSchema | None = None,
    max_targets: int | None = None,
    max_facts: int | None = None,
) -> dict[str, Any]:
    """Read the done sources and their kept triples (``run_id``: of that run only), build the records and
    write them under ``out``; returns the manifest."""
    schema = schema or RelationSchema.load()
    configs = {str(r["run"]): run_config(r["config"]) for r in graph.query("mokg/distill_runs")}
    student = {run for run, c in configs.items() if c.get("miner", "pair") == "lightpair"}
    done: list[str] = []
    by_student: list[str] = []
    narrowed: dict[str, tuple[str, ...]] = {}
    for r in graph.query("mokg/distill_sources", run_id=run_id):
        key, run = str(SourceRef(str(r["type"]), str(r["id"]))), str(r["run"] or "")
        if run in student:
            by_student.append(key)
            continue
        done.append(key)
        narrowed[key] = tuple(configs.get(run, {}).get("relations") or ())
    rows = [triple_from_row(r) for r in graph.query("mokg/distill_triples", run_id=run_id)]
    triples = [t for t in rows if t.props.get("run_id") not in student]
    # κ_S only for the sources that give records: one statement each, the miner's own rendering
    needed = sorted({t.source for t in triples} & set(done))
    contexts = {key: store.fetch_source(graph, SourceRef.parse(key)) for key in needed}
    data = build_dataset(
        done,
        triples,
        contexts,
        schema,
        val_share=val_share,
        max_targets=max_targets,
        max_facts=max_facts,
        narrowed=narrowed,
    )
    data.by_student = sorted(by_student)
    data.triples_by_student = len(rows) - len(triples)
    return write_dataset(
        data,
        out,
        val_share=val_share,
        run_id=run_id,
        schema_version=schema.version,
        max_targets=max_targets,
        max_facts=max_facts,
    )
