"""Continuous mode, measured (issue 17, item 5): review-to-queryable latency of streamed users, and streaming
throughput against `mokg ingest` of the very same rows, in the same run.

A seeded random share of the file's users is held back. The rest is ingested into a scratch database on the
running stack (`mokg stack up`: graph and broker) and trained on (library ``train()``, no LLM profiles). Then a
real ingest worker (``mokg worker --queues ingest``, a subprocess, on a broker database of its own) takes the
held-back users' reviews, streamed in file order by the real producer (``mokg.stream.producer.produce``,
sending ``ingest_batch.delay``), while a poller reads the graph every ``--poll`` seconds.

* **Latency** of a held user: from the arrival of its *last* review line at the producer (paced by
  ``--rate``; a batch leaves when full or 1 s after its first line) to the first poll that sees it with
  ``embedding_source = 'inductive'`` once the worker has logged the batch that carried that line as done
  (so the embedding is the one from all its reviews, not one from an earlier batch; a poll reads the log
  before the graph). p50, p99, max over the users embedded.
* **Never embedded**: held users with no such embedding when the worker has taken every batch, with the
  reason the served model gives for each (``InductiveEmbedder.embed`` on the user's edges, after the run).
* **Throughput**: held review lines / (last user embedded, or every batch taken, whichever is later − first
  send); against `mokg ingest` of the same lines into another fresh scratch database, timed after the stream
  (the worker stopped). The stream does more per review (polarity, SIMILAR_TO of touched users, embeddings).

* **Quality** (``--quality``): lookalike AP of the stream's served vectors against a full retrain, in the
  system. The `mokg eval` split of the whole file is built first (``mokg.stream.quality.EvalTasks``, split
  seed ``--seed``) and its held-out reviews are sent nowhere: neither ingested, streamed, nor given to
  `mokg ingest`. After the stream, every user's ``embedding`` is read from the graph (the first training's
  vectors, the streamed users' inductive ones, as `POST /v1/lookalike` reads them); then the library
  ``train()`` retrains on the graph as it now is, and they are read again. Both are scored by the seeds'
  centroid on the test tasks (``--tasks``), over every candidate and over the streamed users only.
  `bench/inductive.py` measures the same without a graph server, folding in with the training code's
  SIMILAR_TO edges instead of the worker's.

    python bench/stream.py --reviews ../shared/data/amazon/Gift_Cards/Gift_Cards_5.json.gz --out stream.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mokg.config import Settings, get_settings
from mokg.graph import Graph
from mokg.graph.schema import apply_schema
from mokg.ingest import ingest
from mokg.ingest.readers import JsonLines
from mokg.ingest.records import RecordError, parse_review
from mokg.stack.services import drop_database, scratch_database
from mokg.stream.producer import DEFAULT_BATCH
from mokg.stream.quality import EvalTasks, average_precision

DEFAULT_REVIEWS = Path("../shared/data/amazon/Gift_Cards/Gift_Cards_5.json.gz")


# -- the held-back users --------------------------------------------------------------------------------------


@dataclass
class Split:
    base: Path  # every line but the held-back users' (unreadable lines included)
    held_file: Path  # the held-back users' lines, in file order
    held: dict[str, set[tuple[str, str, int]]]  # user -> its review keys
    lines: int  # lines of the whole file
    held_lines: int
    users: int  # users of the whole file
    dropped: int  # lines of the quality split's held-out edges, sent nowhere


# a file's lines: the raw text, and the user and review key when it parses as a review
Parsed = list[tuple[str, str | None, tuple[str, str, int] | None]]


def parse_lines(reviews: Path) -> Parsed:
    parsed: Parsed = []
    with JsonLines(reviews) as lines:
        for line in lines:
            try:
                r = parse_review(line.obj) if line.obj is not None else None
            except RecordError:
                r = None
            parsed.append((line.raw, r.user_id if r else None, r.key if r else None))
    return parsed


def split_users(
    parsed: Parsed, share: float, seed: int, folder: Path, drop: set[tuple[str, str]] | None = None
) -> Split:
    """Hold back ``share`` of the file's users, drawn with ``seed``; both parts written as JSON Lines. The
    reviews of a (user, item) pair in ``drop`` go to neither."""
    drop = drop or set()
    users = sorted({u for _, u, _ in parsed if u is not None})
    chosen = set(random.Random(seed).sample(users, round(share * len(users))))
    held: dict[str, set[tuple[str, str, int]]] = {u: set() for u in sorted(chosen)}
    base, held_file = folder / "base.jsonl", folder / "held.jsonl"
    n_held = dropped = 0
    with base.open("w") as b, held_file.open("w") as h:
        for raw, user, key in parsed:
            if key is not None and key[:2] in drop:
                dropped += 1
                continue
            if user in chosen and key is not None:
                held[user].add(key)
                h.write(raw.rstrip("\n") + "\n")
                n_held += 1
            else:
                b.write(raw.rstrip("\n") + "\n")
    return Split(base, held_file, held, len(parsed), n_held, len(users), dropped)


# -- the worker and the poller --------------------------------------------------------------------------------


def start_worker(
    env: dict[str, str], log: Path, concurrency: int = 1, timeout_s: float = 180
) -> subprocess.Popen[bytes]:
    """``mokg worker --queues ingest``: solo for one process, prefork (its default) for more."""
    with log.open("ab") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mokg.apps.cli", "worker", "--queues", "ingest", "-c", str(concurrency)],
            stdout=f,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + timeout_s
    while "ready." not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_worker(proc)
            raise RuntimeError(f"the ingest worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.3)
    return proc


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


BATCH_LOG = re.compile(
    r"stream (?P<name>\S+) lines (?P<first>\d+): (?P<read>\d+) read, (?P<rejected>\d+) rejected, "
    r"(?P<embedded>\d+) users embedded \((?P<new>\d+) new\), (?P<without>\d+) without, "
    r"(?P<items>\d+) items embedded, (?P<s>[\d.]+) s(?: \((?P<steps>[^)]*)\))?"
)


def batches_done(log: Path, name: str) -> dict[int, dict[str, float]]:
    """The batches of stream ``name`` the worker finished, by first line (a redelivered one counts once)."""
    done: dict[int, dict[str, float]] = {}
    for m in BATCH_LOG.finditer(log.read_text(errors="replace")):
        if m["name"] == name:
            done[int(m["first"])] = {
                k: float(v) for k, v in m.groupdict().items() if k not in ("name", "first", "steps")
            } | {
                f"step_{k}": float(v)
                for k, v in (part.split() for part in (m["steps"] or "").split(", ") if part)
            }
    return done


TASK_DONE = re.compile(r"Task workers\.tasks\.ingest_batch\[[^\]]+\] succeeded in ([\d.]+)s")


def task_seconds(log: Path) -> list[float]:
    """Celery's own runtime of each ingest task, in log order (the first includes the worker's cold start:
    importing torch, loading the sentiment scorer and the model)."""
    return [float(m[1]) for m in TASK_DONE.finditer(log.read_text(errors="replace"))]


@dataclass
class Poller:
    """Every ``period`` s: reads the worker's log (the batches it finished), then the graph (which held users
    have ``embedding_source = 'inductive'``), and notes the poll at which each was first seen."""

    settings: Settings
    users: list[str]
    log: Path
    name: str
    period: float = 0.2
    times: list[float] = field(default_factory=list)  # wall clock of each poll's graph query
    embedded: dict[str, int] = field(default_factory=dict)  # user -> first poll that saw it embedded
    done: dict[int, int] = field(default_factory=dict)  # batch (first line) -> first poll that saw it done
    drained_at: float | None = None  # first poll that saw ``expect`` batches finished
    expect: int | None = None

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def poll(self, graph: Graph) -> None:
        k = len(self.times)
        # the log before the graph: a batch logged done had written its embeddings before it logged
        for first in batches_done(self.log, self.name):
            self.done.setdefault(first, k)
        now = time.time()
        rows = graph.run_text(
            "MATCH (u:User) WHERE u.user_id IN $ids AND u.embedding_source = 'inductive' RETURN u.user_id AS id",
            {"ids": self.users},
            read_only=True,
        )
        self.times.append(now)
        for r in rows:
            self.embedded.setdefault(r["id"], k)
        if self.drained_at is None and self.expect is not None and len(self.done) >= self.expect:
            self.drained_at = now

    def _run(self) -> None:
        with Graph(self.settings) as graph:
            while not self._stop.is_set():
                t0 = time.monotonic()
                self.poll(graph)
                self._stop.wait(max(0.0, self.period - (time.monotonic() - t0)))
            self.poll(graph)  # a last look once told to stop

    def queryable(self, user: str, last_batch: int) -> float | None:
        """When ``user`` was first seen embedded once the batch of its last review (``last_batch``, that
        batch's first line) was done: its embedding from all its reviews, queryable."""
        if user not in self.embedded or last_batch not in self.done:
            return None
        return self.times[max(self.embedded[user], self.done[last_batch])]


# -- why a user got no embedding ------------------------------------------------------------------------------


def reasons(graph: Graph, settings: Settings, users: list[str]) -> dict[str, str]:
    """For each of ``users`` (held, never seen embedded from all its reviews), why, as the served model
    says now: the embedder's own reason, or that it has none (then the worker was too slow or failed)."""
    if not users:
        return {}
    from mokg.glom.inductive import InductiveEmbedder
    from mokg.glom.pipeline import artifacts
    from mokg.stream.incremental import user_triples

    embedder = InductiveEmbedder.load(artifacts(settings))
    if embedder is None:
        return dict.fromkeys(users, "no trained model")
    triples = user_triples(graph, users, use_polarity=bool(embedder.state.config["use_polarity"]))
    result = embedder.embed(triples)
    out = {}
    for u in users:
        key = f"u:{u}"
        if key not in triples:
            out[u] = "not in the graph (every review rejected?)"
        elif key in result.skipped:
            out[u] = result.skipped[key]
        else:
            out[u] = "embeddable now, but not seen embedded from its last review before the end"
    return out


# -- lookalike quality of the stream's vectors against a retrain ------------------------------------------


def served_vectors(graph: Graph, users: list[str]) -> dict[str, np.ndarray]:
    """Each user's ``embedding`` as lookalike reads it (``lookalike/seed_users``); users without one left out."""
    rows = graph.query("lookalike/seed_users", ids=users)
    return {r["user_id"]: np.asarray(r["embedding"], float) for r in rows if r["embedding"] is not None}


def measure_quality(
    graph: Graph, settings: Settings, cfg: Any, tasks: EvalTasks, streamed: set[str]
) -> dict[str, Any]:
    """AP of the vectors the graph serves after the stream, then after a full retrain on the same graph."""
    from mokg.glom.pipeline import train

    stream = served_vectors(graph, tasks.users)
    t0 = time.perf_counter()
    train(graph, settings, cfg)
    retrain_s = time.perf_counter() - t0
    retrained = served_vectors(graph, tasks.users)
    dim = len(next(iter(retrained.values())))
    held = tasks.held_only(streamed)
    out: dict[str, Any] = {
        "task_set": tasks.task_set,
        "tasks": len(tasks.scored.test),
        "held_tasks": len(held.test),
        "users_with_vector_stream": len(stream),
        "users_with_vector_retrain": len(retrained),
        "retrain_s": round(retrain_s, 2),
    }
    for suffix, split in (("", tasks.scored), ("_held", held)):
        a_s = average_precision(split, tasks.matrix(stream, dim))
        a_r = average_precision(split, tasks.matrix(retrained, dim))
        out |= {f"ap_stream{suffix}": a_s, f"ap_retrain{suffix}": a_r, f"ratio{suffix}": a_s / a_r}
    return out


# -- the run --------------------------------------------------------------------------------------------------


def _quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None, "mean": None}
    a = np.asarray(values)
    return {
        "p50": round(float(np.percentile(a, 50)), 3),
        "p99": round(float(np.percentile(a, 99)), 3),
        "max": round(float(a.max()), 3),
        "mean": round(float(a.mean()), 3),
    }


def train_config(settings: Settings, text: str) -> Any:
    """TrainConfig defaults with ``use_profiles=False``, then ``key=value,...`` overrides."""
    from mokg.glom.data import TrainConfig

    try:
        change = {"use_profiles": False, **TrainConfig.changes(text)}
    except ValueError as e:
        raise SystemExit(f"--train-config: {e}") from None
    return TrainConfig.from_settings(settings, **change)


def run(args: argparse.Namespace) -> dict[str, Any]:
    base_settings = get_settings()
    password = base_settings.password()
    broker_root, _, _ = base_settings.broker().rpartition("/")
    broker = f"{broker_root}/{args.broker_db}"
    # the producer's Celery app reads the broker from the (cached) settings when the tasks module is imported
    os.environ["MOKG_BROKER_URL"] = broker
    get_settings.cache_clear()
    from mokg.apps.workers.tasks import ingest_batch
    from mokg.glom.pipeline import train
    from mokg.stream.producer import produce

    # a home of its own: the served-model pointer, the worker's rejects and the logs of this run only
    home = base_settings.home / "bench" / f"stream-{uuid.uuid4().hex[:8]}"
    home.mkdir(parents=True)
    settings = base_settings.with_(home=home, graph_password=password, broker_url=broker)
    log = home / "worker.log"
    t_all = time.perf_counter()
    parsed = parse_lines(args.reviews)
    tasks: EvalTasks | None = None
    if args.quality:
        pairs = [(k[0], k[1]) for _, _, k in parsed if k is not None]
        tasks = EvalTasks.build(
            [u for u, _ in pairs],
            [a for _, a in pairs],
            seed=args.seed,
            tasks=args.tasks,
            min_buyers=args.min_buyers,
        )
    split = split_users(parsed, args.hold_share, args.seed, home, tasks.heldout if tasks else None)
    held_ids = sorted(split.held)
    print(
        f"{len(held_ids)} of {split.users} users held back "
        f"({split.held_lines} of {split.lines} lines); home {home}",
        file=sys.stderr,
    )
    import redis

    redis.Redis.from_url(broker).flushdb()  # the bench's own broker database: no message of an earlier run
    cfg = train_config(base_settings, args.train_config)
    stream_settings = scratch_database(settings, "bench_stream")
    ingest_settings: Settings | None = None
    worker: subprocess.Popen[bytes] | None = None
    poller: Poller | None = None
    graph = Graph(stream_settings)
    name = f"bench.{uuid.uuid4().hex[:6]}"
    try:
        apply_schema(graph)
        t0 = time.perf_counter()
        base_report = ingest(graph, reviews=split.base, rejects_path=home / "base.rejects.jsonl")
        base_s = time.perf_counter() - t0
        print(f"  base ingested: {base_report.summary()}", file=sys.stderr)
        t0 = time.perf_counter()
        trained = train(graph, stream_settings, cfg)
        train_s = time.perf_counter() - t0
        print(f"  trained {trained.version} in {train_s:.1f} s", file=sys.stderr)

        env = {
            **os.environ,
            "MOKG_HOME": str(home),
            "MOKG_GRAPH_PASSWORD": password,
            "MOKG_GRAPH_DATABASE": stream_settings.graph_database,
            "MOKG_BROKER_URL": broker,
            "MOKG_STREAM_RETRAIN_SHARE": "0",  # no retrain request mid-measure (nothing takes `train` here)
        }
        t0 = time.perf_counter()
        worker = start_worker(env, log, args.concurrency)
        worker_start_s = time.perf_counter() - t0
        print(f"  worker ready in {worker_start_s:.1f} s", file=sys.stderr)

        last_send: dict[str, float] = {}  # user -> when the line of its last review arrived at the producer
        last_batch: dict[str, int] = {}  # user -> the batch (its first line) that carried that line
        first_send: list[float] = []
        user_of: dict[int, str] = {}  # line number -> held-back user

        def arrived(line: Any) -> None:
            try:
                obj = json.loads(line.raw)
                user = obj.get("reviewerID") or obj.get("user_id")
            except (ValueError, AttributeError):
                return
            if user in split.held:
                last_send[user] = time.time()
                user_of[line.number] = user

        def send(batch: list[tuple[int, str, str | None]]) -> None:
            if not first_send:
                first_send.append(time.time())
            for number, _, _ in batch:
                if number in user_of:
                    last_batch[user_of[number]] = batch[0][0]
            ingest_batch.delay("reviews", batch, str(split.held_file), name, True)

        poller = watch = Poller(stream_settings, held_ids, log, name, period=args.poll)
        watch.start()
        with JsonLines(split.held_file) as lines:
            produced = produce(
                lines.texts(), send, batch_size=args.batch_size, rate=args.rate, arrived=arrived
            )
        watch.expect = produced.batches
        print(
            f"  sent {produced.lines} lines in {produced.batches} batches in {produced.seconds:.2f} s",
            file=sys.stderr,
        )

        # until every batch is done: with several worker processes a batch can finish (a deadlock retried)
        # after every held user's last batch, and the stream has not landed before it has
        deadline = time.monotonic() + args.timeout
        while watch.drained_at is None:
            if worker.poll() is not None:
                raise RuntimeError(f"the ingest worker died:\n{log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                print(f"  timed out after {args.timeout:.0f} s", file=sys.stderr)
                break
            time.sleep(0.2)
        # once drained, the batches' writes are all in: one more poll sees the last embeddings
        watch.stop()
        timed_out = watch.drained_at is None

        latency: dict[str, float] = {}
        seen_at: dict[str, float] = {}
        for u, sent_at in last_send.items():
            t = watch.queryable(u, last_batch[u])
            if t is not None:
                latency[u] = t - sent_at
                seen_at[u] = t
        never = [u for u in held_ids if u not in latency]
        why = reasons(graph, stream_settings, never)
        ends = [*seen_at.values(), *([watch.drained_at] if watch.drained_at is not None else [])]
        stream_s = max(ends) - first_send[0] if ends and first_send else float("nan")
        stream_rate = split.held_lines / stream_s
        done = batches_done(log, name)
        batch_s = task_seconds(log)
        stop_worker(worker)
        worker = None
        rejected = sum(
            len(p.read_text().splitlines()) for p in (home / "rejects" / "stream" / name).glob("*.jsonl")
        )

        quality = measure_quality(graph, stream_settings, cfg, tasks, set(held_ids)) if tasks else None

        # `mokg ingest` of the very same lines into a fresh database, the worker stopped
        ingest_settings = scratch_database(settings, "bench_stream_ingest")
        with Graph(ingest_settings) as g:
            apply_schema(g)
            t0 = time.perf_counter()
            held_report = ingest(g, reviews=split.held_file, rejects_path=home / "held.rejects.jsonl")
            ingest_s = time.perf_counter() - t0
        ingest_rate = held_report.read / ingest_s
    finally:
        if poller is not None:
            poller.stop()
        if worker is not None:
            stop_worker(worker)
        graph.close()
        for s in (stream_settings, ingest_settings):
            if s is not None and not args.keep:
                drop_database(s)

    return {
        "file": str(args.reviews),
        "seed": args.seed,
        "hold_share": args.hold_share,
        "batch_size": args.batch_size,
        "rate": args.rate,
        "train_config": asdict(cfg),
        "model_version": trained.version,
        "users": split.users,
        "held_users": len(held_ids),
        "lines": split.lines,
        "held_lines": split.held_lines,
        "base": {
            "reviews_read": base_report.read,
            "ingest_s": round(base_s, 2),
            "train_s": round(train_s, 2),
        },
        "worker_start_s": round(worker_start_s, 2),
        "worker_processes": args.concurrency,
        "stream": {
            "batches_sent": produced.batches,
            "batches_done": len(done),
            "items_embedded": int(sum(d["items"] for d in done.values())),
            "send_s": round(produced.seconds, 3),
            "seconds": round(stream_s, 3),
            "reviews_per_s": round(stream_rate, 1),
            "rejected": rejected,
            "batch_s_median": round(statistics.median(batch_s), 3) if batch_s else None,
            "batch_s_first": round(batch_s[0], 3) if batch_s else None,
            "batch_s_all": [round(b, 3) for b in batch_s],
            # where a batch's time went, by the worker's own step timing: median seconds per step
            "step_s_median": {
                k.removeprefix("step_"): round(statistics.median(d[k] for d in done.values() if k in d), 3)
                for k in dict.fromkeys(k for d in done.values() for k in d if k.startswith("step_"))
            },
            "timed_out": timed_out,
            "polls": len(poller.times) if poller else 0,
        },
        "latency_s": _quantiles(list(latency.values())),
        "embedded": len(latency),
        "never_embedded": len(never),
        "never_reasons": dict(Counter(why.values()).most_common()),
        "never_users": why,
        "ingest": {
            "reviews_read": held_report.read,
            "written": held_report.written,
            "seconds": round(ingest_s, 3),
            "reviews_per_s": round(ingest_rate, 1),
        },
        "ratio_stream_to_ingest": float(f"{stream_rate / ingest_rate:.4g}"),  # 4 significant digits
        "quality": quality,
        "heldout_lines_sent_nowhere": split.dropped,
        "latency_by_user_s": {u: round(v, 3) for u, v in sorted(latency.items())},
        "wall_s": round(time.perf_counter() - t_all, 1),
        "home": str(home),
    }


def table(r: dict[str, Any]) -> str:
    lat, st, ing = r["latency_s"], r["stream"], r["ingest"]

    def s(v: float | None) -> str:
        return "–" if v is None else f"{v:.2f} s"

    reasons = "; ".join(f"{n} × {why}" for why, n in r["never_reasons"].items()) or "–"
    rows = [
        ("held-back users", f"{r['held_users']:,} ({r['held_lines']:,} of {r['lines']:,} review lines)"),
        ("model", f"{r['model_version']} (trained in {r['base']['train_s']:.0f} s)"),
        (
            "worker processes",
            f"{r['worker_processes']} ({'solo' if r['worker_processes'] == 1 else 'prefork'})",
        ),
        ("review-to-queryable p50", s(lat["p50"])),
        ("review-to-queryable p99", s(lat["p99"])),
        ("review-to-queryable max", s(lat["max"])),
        ("embedded / never", f"{r['embedded']:,} / {r['never_embedded']:,}"),
        ("items re-embedded by the stream", f"{st['items_embedded']:,}"),
        ("never embedded, why", reasons),
        (
            "stream throughput",
            f"{st['reviews_per_s']:,.1f} reviews/s ({r['held_lines']:,} in {st['seconds']:.1f} s, "
            f"{st['batches_done']}/{st['batches_sent']} batches of {r['batch_size']}, "
            f"median {st['batch_s_median']} s per batch)",
        ),
        (
            "per batch, median s by step",
            ", ".join(f"{k} {v:.2f}" for k, v in st["step_s_median"].items()) or "–",
        ),
        (
            "first task (a solo worker warms the scorer and the model before it reports ready)",
            s(st["batch_s_first"]),
        ),
        ("`mokg ingest`, same rows", f"{ing['reviews_per_s']:,.1f} reviews/s ({ing['seconds']:.2f} s)"),
        ("ratio stream / ingest", f"{r['ratio_stream_to_ingest']:.3f}"),
    ]
    q = r["quality"]
    if q:
        for label, suffix, n in (("all", "", q["tasks"]), ("streamed users only", "_held", q["held_tasks"])):
            rows.append(
                (
                    f"AP, {q['task_set']} tasks ({n}), candidates: {label}",
                    f"stream {q['ap_stream' + suffix]:.4f}, retrain {q['ap_retrain' + suffix]:.4f}: "
                    f"x{q['ratio' + suffix]:.3f}",
                )
            )
        rows.append(("retrain on the graph after the stream", f"{q['retrain_s']:.1f} s"))
    return "\n".join(["| measure | value |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reviews", type=Path, default=DEFAULT_REVIEWS, help="reviews file (JSON Lines, .gz)")
    ap.add_argument("--hold-share", type=float, default=0.2, help="share of the users held back and streamed")
    ap.add_argument("--seed", type=int, default=0, help="draws the held-back users")
    ap.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH["reviews"],
        help="lines per streamed batch (task), at most (`mokg stream send`'s default for reviews)",
    )
    ap.add_argument("--rate", type=float, help="lines per second sent (default: as fast as read)")
    ap.add_argument(
        "--train-config",
        default="",
        metavar="K=V,...",
        help="TrainConfig overrides (defaults: TrainConfig's, with use_profiles=False), e.g. dim=16,pm_epochs=20",
    )
    ap.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="worker processes (1: a solo worker; more: a prefork pool, one batch per child at a time)",
    )
    ap.add_argument("--poll", type=float, default=0.2, help="seconds between the poller's graph queries")
    ap.add_argument("--timeout", type=float, default=900, help="seconds to wait for the stream to be taken")
    ap.add_argument("--broker-db", type=int, default=5, help="the worker's broker database (flushed first)")
    ap.add_argument(
        "--quality",
        action="store_true",
        help="also score the stream's served vectors against a retrain on the graph (held-out reviews of the "
        "`mokg eval` split, seed --seed, are sent nowhere)",
    )
    ap.add_argument("--tasks", choices=["validation", "test", "all"], default="test", help="with --quality")
    ap.add_argument(
        "--min-buyers", type=int, default=20, help="with --quality: items with this many buyers are tasks"
    )
    ap.add_argument("--keep", action="store_true", help="keep the scratch databases and the run's home")
    ap.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args()
    if not 0 < args.hold_share < 1:
        ap.error("--hold-share must be between 0 and 1")
    if args.concurrency < 1:
        ap.error("--concurrency must be at least 1")
    result = run(args)
    print(table(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    if not args.keep:
        shutil.rmtree(result["home"], ignore_errors=True)


if __name__ == "__main__":
    main()
