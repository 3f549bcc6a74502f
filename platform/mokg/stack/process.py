"""Start, stop and check one background server process that the embedded stack owns.

Each service has a pid file and a log under ``$MOKG_HOME``. The process is started with an environment
variable naming its home and service; ``stop`` only signals a pid whose environment still carries it, so a
recycled pid never kills an unrelated process (servers may rewrite their command line, not their environment).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


class StackError(RuntimeError):
    """A server of the embedded stack could not be started, reached or stopped."""


@dataclass(frozen=True)
class Service:
    name: str
    argv: Sequence[str]
    ports: Sequence[int]
    home: Path
    health: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    start_timeout_s: float = 90.0
    before_start: Callable[[], None] | None = None  # one-off preparation, run before a new process
    after_start: Callable[[], None] | None = None

    @property
    def pid_file(self) -> Path:
        return self.home / "run" / f"{self.name}.pid"

    @property
    def owner_tag(self) -> str:
        return f"MOKG_STACK_OWNER={self.home}/{self.name}"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / f"{self.name}.log"


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    running: bool
    healthy: bool
    ports: Sequence[int]
    log_file: Path
    external: str | None = None  # the address of a server this configuration does not own

    def line(self) -> str:
        if self.external is not None:
            return f"{self.name:9} {'healthy' if self.healthy else 'unreachable':22} external {self.external}"
        state = "healthy" if self.healthy else ("running, not healthy" if self.running else "stopped")
        where = ",".join(str(p) for p in self.ports)
        pid = f"pid {self.pid}" if self.running else "-"
        return f"{self.name:9} {state:22} 127.0.0.1:{where:12} {pid}"


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _environ(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0); it is not running
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and ") Z " in stat.read_text())


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _is_ours(service: Service, pid: int) -> bool:
    if service.owner_tag in _environ(pid):
        return True
    # Valkey rewrites its process title over the environment; then the binary and port must match.
    if not service.argv:
        return False
    try:
        exe = os.path.realpath(f"/proc/{pid}/exe")
    except OSError:
        return False
    return exe == os.path.realpath(service.argv[0]) and f":{service.ports[0]}" in _cmdline(pid)


def our_pid(service: Service) -> int | None:
    """The pid from the pid file, if that process is alive and is really this service."""
    try:
        pid = int(service.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if _alive(pid) and _is_ours(service, pid):
        return pid
    return None


def status(service: Service) -> ServiceStatus:
    pid = our_pid(service)
    healthy = pid is not None and _safe_health(service)
    return ServiceStatus(service.name, pid, pid is not None, healthy, service.ports, service.log_file)


def _safe_health(service: Service) -> bool:
    try:
        return service.health()
    except Exception:
        return False


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(service: Service) -> str:
    """Start the service unless it already runs; returns a one-line account of what happened."""
    if our_pid(service) is not None:
        if _wait_healthy(service, service.start_timeout_s):
            # idempotent set-up (database, users) also runs for a server that was already up
            if service.after_start:
                service.after_start()
            return f"{service.name}: already running"
        raise StackError(f"{service.name} runs but is not healthy; see {service.log_file}")
    for port in service.ports:
        if port_in_use(port):
            raise StackError(
                f"{service.name}: port {port} on 127.0.0.1 is taken by another process. "
                f"Stop that process or choose another port (see `mokg settings`)."
            )
    if service.before_start:
        service.before_start()
    service.pid_file.parent.mkdir(parents=True, exist_ok=True)
    service.log_file.parent.mkdir(parents=True, exist_ok=True)
    with service.log_file.open("ab") as log:
        proc = subprocess.Popen(
            list(service.argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **service.env, **dict([service.owner_tag.split("=", 1)])},
            cwd=service.home,
            start_new_session=True,  # outlives `mokg stack up`, and ^C in the shell does not reach it
        )
    service.pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + service.start_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            service.pid_file.unlink(missing_ok=True)
            raise StackError(
                f"{service.name} exited with status {proc.returncode} during start; "
                f"last lines of {service.log_file}:\n{log_tail(service.log_file)}"
            )
        if _safe_health(service):
            if service.after_start:
                service.after_start()
            return f"{service.name}: started (pid {proc.pid})"
        time.sleep(0.5)
    stop(service)
    raise StackError(
        f"{service.name} did not become healthy within {service.start_timeout_s:.0f}s; "
        f"last lines of {service.log_file}:\n{log_tail(service.log_file)}"
    )


def _wait_healthy(service: Service, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _safe_health(service):
            return True
        time.sleep(0.5)
    return False


def stop(service: Service, timeout_s: float = 30.0) -> str:
    pid = our_pid(service)
    if pid is None:
        service.pid_file.unlink(missing_ok=True)
        return f"{service.name}: not running"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    # reap it if it was our own child (tests start and stop in one process)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    service.pid_file.unlink(missing_ok=True)
    return f"{service.name}: stopped (pid {pid})"
