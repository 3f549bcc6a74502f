"""Lookalike API load: `POST /v1/lookalike` through gunicorn against the driver-level floor, in the same run.

For each concurrency (default 1, 8, 32) it sends a bounded number of lookalike requests (k = 100, 50 random
seed users each, method centroid, the default path) to `mokg serve` (gunicorn, threaded workers) on 127.0.0.1
(one minimal keep-alive HTTP/1.1 connection per client thread), and the same number of floor requests: the
very vector query a lookalike request runs (cypher/lookalike/vector_neighbours.cypher, one centroid, the same
fetch size) sent straight through the driver from as many threads (with the same row reader the API uses).
Prints p50/p99 latency, requests/s and errors for both and the ratios API/floor; --json writes every figure.
The two sides run in alternating blocks (--rounds), so the drift of a shared machine's speed within a run
falls on both alike. Requests cycle through --seed-sets fixed seed sets, as a dashboard re-asking for its
campaigns does, so repeated seeds come from the API's seed cache; more seed sets than the run's requests
measure the uncached path (each request takes the next set).

Needs a running graph (`mokg stack up --only graph`) whose users carry embeddings and the vector index
(`mokg train`). --fake-embeddings writes placeholder vectors (the sum of a fixed random vector per reviewed
item) for a serving-cost measurement before any training: they cost the server the same, but say nothing
about audience quality. Traffic goes to loopback only, and every loop is bounded in count and time.

    python bench/api.py
    python bench/api.py --database synth100k --fake-embeddings --requests 300
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import requests

from mokg.apikeys import create_key, revoke_key
from mokg.config import Settings, get_settings, usable_cores
from mokg.graph import Graph
from mokg.lookalike.activity_index import activity_inputs, write_activity_index
from mokg.lookalike.audience import EMBEDDING_PROPERTY, first_fetch, record_method
from mokg.lookalike.scoring import ActivityTerm

HOST = "127.0.0.1"


@dataclass
class Figures:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    rps: float


@dataclass
class _Side:
    """One side (API or floor) of a concurrency level: its call, its client threads and what they saw."""

    call: Callable[[int], None]
    pool: ThreadPoolExecutor
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def block(self, indices: range, max_seconds: float) -> None:
        """Run ``call(i)`` for each index from the side's threads, stopping after ``max_seconds``."""
        deadline = time.perf_counter() + max_seconds

        def one(i: int) -> float | None:
            if time.perf_counter() > deadline:
                return math.nan
            t0 = time.perf_counter()
            try:
                self.call(i)
            except Exception:
                return None
            return time.perf_counter() - t0

        t0 = time.perf_counter()
        for lat in self.pool.map(one, indices):
            if lat is None:
                self.errors += 1
            elif not math.isnan(lat):
                self.latencies.append(lat)
        self.seconds += time.perf_counter() - t0

    def figures(self) -> Figures:
        done = len(self.latencies)
        qs = np.quantile(self.latencies, [0.5, 0.99]) * 1000 if done else [math.nan, math.nan]
        rps = done / self.seconds if self.seconds else math.nan
        return Figures(
            done + self.errors,
            self.errors,
            round(self.seconds, 2),
            round(qs[0], 2),
            round(qs[1], 2),
            round(rps, 1),
        )


def _measure(
    floor_call: Callable[[int], None],
    api_call: Callable[[int], None],
    indices: range,
    concurrency: int,
    max_seconds: float,
    rounds: int,
) -> tuple[Figures, Figures, int]:
    """The floor and the API, a call per index each from ``concurrency`` threads, in alternating blocks (floor,
    API, API, floor, ...): this shared machine's speed drifts by tens of percent within a minute, and the blocks
    put both sides under the same drift. Each side keeps its threads (and so its connections) across blocks;
    an untimed first block of ``2 × concurrency`` of the indices opens them."""
    warm, n = 2 * concurrency, len(indices) - 2 * concurrency
    # a block shorter than a few waves of requests would measure its own ramp-up and drain
    rounds = max(1, min(rounds, n // (4 * concurrency)))
    edges = np.linspace(indices.start + warm, indices.stop, rounds + 1).round().astype(int).tolist()
    with ThreadPoolExecutor(concurrency) as fp, ThreadPoolExecutor(concurrency) as ap:
        floor, api = _Side(floor_call, fp), _Side(api_call, ap)
        for side in (floor, api):
            _Side(side.call, side.pool).block(indices[:warm], max_seconds)
        for r, (lo, hi) in enumerate(itertools.pairwise(edges)):
            for side in (floor, api) if r % 2 == 0 else (api, floor):
                side.block(range(lo, hi), max_seconds / rounds)
    return floor.figures(), api.figures(), rounds


def _post(port: int, path: str, body: bytes, token: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class _Connection:
    """One keep-alive HTTP/1.1 connection: sends a prepared request, reads a Content-Length response."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.closed = False

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        self.sock.sendall(request)
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self._read()
        head, self.buf = self.buf[:end].decode("latin-1"), self.buf[end + 4 :]
        status_line, *lines = head.split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
        if "content-length" not in fields:
            raise ValueError(f"no Content-Length in the response ({status_line})")
        n = int(fields["content-length"])
        while len(self.buf) < n:
            self._read()
        body, self.buf = self.buf[:n], self.buf[n:]
        if fields.get("connection", "").lower() == "close":
            self.close()
        return int(status_line.split()[1]), body

    def _read(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf += chunk

    def close(self) -> None:
        self.closed = True
        self.sock.close()


def _fake_embeddings(graph: Graph, dim: int, seed: int) -> int:
    rows = graph.run_text(
        "MATCH (u:User)-[:REVIEWED]->(i:Item) RETURN u.user_id AS u, collect(i.asin) AS items",
        {},
        read_only=True,
    )
    asins = sorted({a for r in rows for a in r["items"]})
    basis = dict(zip(asins, np.random.default_rng(seed).standard_normal((len(asins), dim)), strict=True))
    graph.dialect.create_vector_index(graph, "User", EMBEDDING_PROPERTY, dim)

    def props() -> Iterator[dict[str, Any]]:
        for r in rows:
            v = np.sum([basis[a] for a in r["items"]], axis=0)
            yield {
                "key": r["u"],
                "props": {"embedding": (v / np.linalg.norm(v)).tolist(), "embedding_version": "bench-fake"},
            }

    graph.write_batches("glom/set_user_properties", props())
    return len(rows)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _serve(settings: Settings, port: int, workers: int, threads: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MOKG_GRAPH_DATABASE": settings.graph_database}
    cmd = [sys.executable, "-m", "mokg.apps.cli", "serve", "--host", HOST, "--port", str(port)]
    cmd += ["--workers", str(workers), "--threads", str(threads)]
    log = (settings.home / "logs" / "bench_api_gunicorn.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://{HOST}:{port}/healthz", timeout=10).status_code in (200, 503):
                return proc
        except requests.RequestException:
            time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGTERM)
    raise RuntimeError(f"gunicorn did not answer on {HOST}:{port} within 60 s (see {log.name})")


def _record_activity(graph: Graph, weight: float) -> Callable[[], None]:
    """Record centroid with an activity term of ``weight`` (scaled on the users' review counts) for the users'
    model version and write its activity index, as training does, so that the API's requests, which name no
    method, take the term's path; returns what puts the previous record back (a version with none keeps
    centroid, recorded, with no term)."""
    versions = graph.query("stream/embedding_sources")
    version = str(max((r for r in versions if r["version"]), key=lambda r: r["n"])["version"])
    before = graph.query("lookalike/serving_method", version=version)
    term = ActivityTerm.of(activity_inputs(graph, version).items, weight)
    record_method(graph, version, "centroid", {"activity": term.detail(), "by": "bench/api.py --activity"})
    t0 = time.perf_counter()
    n = write_activity_index(graph, term, version)
    print(
        f"activity index: {n:,} users of version {version} written in {time.perf_counter() - t0:.1f} s, "
        f"weight {weight:+g}",
        file=sys.stderr,
    )

    def restore() -> None:
        if before:
            record_method(graph, version, str(before[0]["method"]), json.loads(before[0]["detail"] or "{}"))
        else:
            record_method(graph, version, "centroid", {"by": "bench/api.py --activity, restoring no record"})

    return restore


def run(args: argparse.Namespace) -> dict[str, object]:
    settings = get_settings()
    if args.database:
        settings = settings.with_(graph_database=args.database)
    graph = Graph(settings)
    if args.fake_embeddings:
        n = _fake_embeddings(graph, args.dim, settings.seed)
        print(f"wrote placeholder embeddings (dim {args.dim}) for {n:,} users", file=sys.stderr)
    users = graph.run_text(
        "MATCH (u:User) WHERE u.embedding IS NOT NULL RETURN u.user_id AS u, u.embedding AS e",
        {},
        read_only=True,
    )
    if len(users) < args.seeds * 2:
        raise SystemExit(f"only {len(users)} users carry embeddings: run `mokg train` (or --fake-embeddings)")
    rng = np.random.default_rng(settings.seed)
    ids = [r["u"] for r in users]
    vecs = np.array([r["e"] for r in users], dtype=np.float64)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    # 100k rows of float lists would make every garbage collection of this client process slow, and count
    # against whichever side happened to trigger it
    del users
    gc.collect()
    gc.freeze()
    n_sets = args.seed_sets
    picks = [rng.choice(len(ids), args.seeds, replace=False) for _ in range(n_sets)]
    seed_sets = [[ids[j] for j in p] for p in picks]
    centres = [vecs[p].mean(axis=0) for p in picks]
    centres = [c / np.linalg.norm(c) for c in centres]
    # the fetch size the API's centroid search asks for (k and the seeds to skip)
    fetch = first_fetch(args.k, args.seeds, filtered=False)
    index = graph.dialect.vector_index_name("User", EMBEDDING_PROPERTY)

    def floor_call(i: int) -> None:
        rows = graph.query(
            "lookalike/vector_neighbours",
            rows=[{"i": 0, "k": fetch, "vec": centres[i % n_sets].tolist()}],
            index=index,
            category=None,
            min_reviews=None,
        )
        if len(rows) < args.k:
            raise RuntimeError("short answer")

    restore = _record_activity(graph, args.activity) if args.activity else None
    key = create_key(graph, ["lookup"], name="bench-api")
    port = _free_port()
    server = _serve(settings, port, args.workers, args.threads)
    bodies = [orjson.dumps({"seed_user_ids": s, "k": args.k}) for s in seed_sets]
    # one keep-alive connection per client thread, with a minimal HTTP/1.1 client: the load generator's own
    # parsing is no cost of the service (requests adds ~1 ms a call, http.client's header parser ~0.1 ms),
    # while the floor's client is the driver, whose decoding the API pays as well
    requests_bytes = [_post(port, "/v1/lookalike", body, key.token) for body in bodies]
    clients: dict[int, _Connection] = {}

    def api_call(i: int) -> None:
        tid = threading.get_ident()
        for attempt in (1, 2):
            conn = clients.get(tid)
            fresh = conn is None
            if conn is None:
                conn = clients[tid] = _Connection(port)
            try:
                status, body = conn.exchange(requests_bytes[i % n_sets])
                if conn.closed:  # the server said "Connection: close"
                    del clients[tid]
                break
            except (OSError, ValueError):
                conn.close()
                del clients[tid]
                # gunicorn closes a connection idle for its keep-alive time (5 s): like any keep-alive
                # client, retry once on a new connection; a failure on a new one is an error
                if fresh or attempt == 2:
                    raise
        answer = orjson.loads(body) if status == 200 else {}
        if status != 200 or len(answer["users"]) != args.k:
            raise RuntimeError(f"HTTP {status}")
        if answer["stats"]["activity_weight"] != args.activity:
            raise RuntimeError(f"served with activity weight {answer['stats']['activity_weight']}")

    levels = []
    try:
        # every request of the run takes the next index, so seed sets repeat only when there are fewer of them
        # than requests; then an untimed warm-up, from enough connections to reach every gunicorn worker,
        # fills the seed caches first (a dashboard's steady state)
        top = max(args.concurrency)
        start = 4 * n_sets if 4 * n_sets <= args.requests else 2 * top
        with ThreadPoolExecutor(top) as pool:
            for call in (api_call, floor_call):
                _Side(call, pool).block(range(start), args.max_seconds)
        for c in args.concurrency:
            indices = range(start, start + 2 * c + args.requests)
            start = indices.stop
            floor, api, rounds = _measure(floor_call, api_call, indices, c, args.max_seconds, args.rounds)
            level = {
                "concurrency": c,
                "rounds": rounds,
                "api": asdict(api),
                "floor": asdict(floor),
                "p99_ratio": round(api.p99_ms / floor.p99_ms, 2),
                "rps_ratio": round(api.rps / floor.rps, 2),
            }
            levels.append(level)
            print(
                f"c={c:>2}  API p50 {api.p50_ms:7.1f} ms  p99 {api.p99_ms:7.1f} ms  {api.rps:6.1f} req/s  "
                f"errors {api.errors} | floor p50 {floor.p50_ms:7.1f} ms  p99 {floor.p99_ms:7.1f} ms  "
                f"{floor.rps:6.1f} q/s  errors {floor.errors} | p99 ×{level['p99_ratio']}  "
                f"throughput ×{level['rps_ratio']}"
            )
    finally:
        for conn in clients.values():
            conn.close()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        revoke_key(graph, key.key.id)
        if restore is not None:
            restore()
        graph.close()
    return {
        "database": settings.graph_database,
        "users_with_embeddings": len(ids),
        "dim": int(vecs.shape[1]),
        "k": args.k,
        "seeds": args.seeds,
        "seed_sets": n_sets,
        "fetch": fetch,
        "activity_weight": args.activity,
        "workers": args.workers,
        "threads": args.threads,
        "cores": usable_cores(),
        "levels": levels,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database", help="graph database (default: MOKG_GRAPH_DATABASE)")
    ap.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32])
    ap.add_argument(
        "--requests",
        type=int,
        default=1000,
        help="requests per side and concurrency (a p99 from 300 rests on its 3 slowest requests)",
    )
    ap.add_argument("--max-seconds", type=float, default=120, help="time cap per side and concurrency")
    ap.add_argument(
        "--rounds",
        type=int,
        default=6,
        help="alternating floor/API blocks per concurrency (fewer when a block would hold under 4 waves)",
    )
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument(
        "--seed-sets",
        type=int,
        default=64,
        help="distinct seed sets the requests cycle through; repeats are served from the API's seed cache, "
        "so more sets than the run's requests (levels x (--requests + 2 x concurrency)) measures the "
        "uncached path",
    )
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    ap.add_argument("--threads", type=int, default=16, help="threads per gunicorn worker")
    ap.add_argument("--fake-embeddings", action="store_true", help="write placeholder embeddings first")
    ap.add_argument("--dim", type=int, default=64, help="dimension of --fake-embeddings")
    ap.add_argument(
        "--activity",
        type=float,
        default=0.0,
        help="serve with an activity term of this weight (recorded for the model version for the run, then "
        "restored); the floor stays the bare vector query, so the ratios show what the term costs",
    )
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    result = run(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
