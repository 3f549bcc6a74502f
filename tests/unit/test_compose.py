"""compose.yaml and the Dockerfile, checked offline: these machines have no Docker engine to run them.

compose.yaml is interpolated the way Compose does it (with the values of .env.example) and validated against
the Compose Specification's JSON schema (vendored in tests/data, see its README). On top of the schema: every
MOKG_* variable the services set is a setting of ``mokg.config.Settings`` and the app services' settings load;
secrets come from .env and are required; every published port is on loopback; every long-running service has
a health check and every dependency on health has one to wait for; the commands and health checks of the app
image, and the Dockerfile's CMD, name modules that import and `mokg` commands that parse.
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import yaml

from mokg.config import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
ENV_EXAMPLE = REPO / ".env.example"
SCHEMA = REPO / "tests" / "data" / "compose-spec.json"

# Compose interpolation: $$ (a literal $), ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error},
# ${VAR:+alternative}, ${VAR+alternative} and $VAR
_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|_AUTH$")


class InterpolationError(ValueError):
    pass


def _env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: {line!r} is not KEY=VALUE"
            env[key.strip()] = value.strip()
    return env


def _interpolate_str(text: str, env: Mapping[str, str], used: set[str]) -> str:
    def substitute(m: re.Match[str]) -> str:
        if m["escaped"]:
            return "$"
        name = m["braced"] or m["named"]
        used.add(name)
        op, arg = m["op"], m["arg"] or ""
        value = env.get(name)
        is_set, non_empty = value is not None, bool(value)
        if op in (":?", "?"):
            if not (non_empty if op == ":?" else is_set):
                raise InterpolationError(f"{name}: {arg or 'required'}")
            return value or ""
        if op in (":-", "-"):
            return (value or "") if (non_empty if op == ":-" else is_set) else arg
        if op in (":+", "+"):
            return arg if (non_empty if op == ":+" else is_set) else ""
        if value is None:  # Compose warns and substitutes "": here every variable must be in .env.example
            raise InterpolationError(f"${{{name}}} has no default and is not set")
        return value

    rest = _INTERPOLATION.sub("", text)
    if "$" in rest:
        raise InterpolationError(f"invalid interpolation in {text!r}")
    return _INTERPOLATION.sub(substitute, text)


def interpolate(node: Any, env: Mapping[str, str], used: set[str] | None = None) -> Any:
    """What Compose does to every value (not key) of the file before it validates the file."""
    used = set() if used is None else used
    if isinstance(node, dict):
        return {k: interpolate(v, env, used) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env, used) for v in node]
    if isinstance(node, str):
        return _interpolate_str(node, env, used)
    return node


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def _environment(service: Mapping[str, Any]) -> dict[str, str | None]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = [item.partition("=") for item in env]
        return {k: (v if sep else None) for k, sep, v in pairs}
    return {k: (None if v is None else str(v)) for k, v in env.items()}


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())  # resolves the anchors and `<<` merges, as Compose does
    assert isinstance(doc, dict) and doc.get("services"), "compose.yaml has no services"
    return doc


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    return _env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any], example_env: dict[str, str]) -> dict[str, Any]:
    """compose.yaml as Compose sees it with a .env copied from .env.example."""
    doc: dict[str, Any] = interpolate(raw, example_env)
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


# -- the Dockerfile ------------------------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):  # a comment inside a continued instruction
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, args = pending.strip().partition(" ")
        instructions.append((word.upper(), args.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def _argv(args: str) -> list[str]:
    """An exec-form (JSON) or shell-form CMD / ENTRYPOINT as argv."""
    if args.startswith("["):
        argv = json.loads(args)
        assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), args
        return argv
    return shlex.split(args)


def _docker_env() -> dict[str, str]:
    env = {}
    for word, args in _dockerfile():
        if word == "ENV":
            tokens = shlex.split(args)
            if tokens and "=" not in tokens[0]:  # legacy `ENV KEY value`
                env[tokens[0]] = " ".join(tokens[1:])
            else:
                env.update(t.partition("=")[::2] for t in tokens)
    return env


def _image_argv() -> list[str]:
    entrypoint: list[str] = []
    cmd: list[str] = []
    for word, args in _dockerfile():
        if word == "ENTRYPOINT":
            entrypoint = _argv(args)
        elif word == "CMD":
            cmd = _argv(args)
    return entrypoint + cmd


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _uses_app_image(service: Mapping[str, Any]) -> bool:
    return "build" in service


# -- resolving commands --------------------------------------------------------------------------------------


def _first_command(shell: str) -> list[str]:
    """The first simple command of a CMD-SHELL line (up to a pipe, a list operator or a redirection)."""
    argv: list[str] = []
    for token in shlex.split(shell):
        if token in ("|", "||", "&&", ";") or token[:1] in (">", "<") or token[:2] in ("2>", "1>"):
            break
        argv.append(token)
    return argv


def check_argv(argv: list[str]) -> None:
    """Fail unless argv runs code of this project that exists: a console script of pyproject.toml whose
    (click) command and options parse, or ``python -m MODULE`` / ``python -c CODE`` whose module imports
    and code compiles; ``celery -A APP`` must name an app that imports."""
    assert argv, "an empty command"
    program, args = Path(argv[0]).name, argv[1:]
    scripts: dict[str, str] = _pyproject()["project"]["scripts"]
    if program in scripts:
        module, _, attr = scripts[program].partition(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command), f"{program}: {scripts[program]} is not a click command"
        while isinstance(command, click.Group) and args and args[0] in command.commands:
            command, args = command.commands[args[0]], args[1:]
        if isinstance(command, click.Group):
            what = f"{args[0]!r} is no command of" if args else "names only the group"
            pytest.fail(
                f"{shlex.join(argv)}: {what} `{command.name}` ({', '.join(sorted(command.commands))})"
            )
        try:
            command.make_context(command.name, list(args))  # parses, never invokes
        except click.ClickException as e:
            pytest.fail(f"{shlex.join(argv)}: {e.format_message()}")
        return
    assert re.fullmatch(r"python(3(\.\d+)?)?", program), f"{argv}: not a console script of pyproject.toml"
    if args[:1] == ["-c"]:
        compile(args[1], "<healthcheck>", "exec")
        return
    assert args[:1] == ["-m"] and len(args) > 1, f"{argv}: expected python -m MODULE or -c CODE"
    module, rest = args[1], args[2:]
    importlib.import_module(module)
    if module == "celery":
        for flag, value in itertools.pairwise(rest):
            if flag in ("-A", "--app"):
                app_module, _, attr = value.partition(":")
                loaded = importlib.import_module(app_module)
                assert not attr or hasattr(loaded, attr), f"{value}: no attribute {attr}"
                return
        pytest.fail(f"{argv}: celery without -A APP")


def _healthcheck_argv(test: str | list[str]) -> list[str] | None:
    if isinstance(test, str):
        return _first_command(test)
    kind, *rest = test
    if kind == "CMD":
        return rest
    if kind == "CMD-SHELL":
        return _first_command(rest[0])
    return None  # NONE: no check


# -- the tests -----------------------------------------------------------------------------------------------


def test_the_vendored_schema_is_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    assert schema["title"] == "Compose Specification"
    # its $schema (https://json-schema.org/draft-07/schema, no #) is draft 7 but not in jsonschema's table
    assert "draft-07" in schema["$schema"]
    jsonschema.Draft7Validator.check_schema(schema)


def test_compose_file_validates_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "compose.yaml breaks the Compose Specification:\n" + "\n".join(
        f"  {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors
    )


def test_services_and_dependencies_are_all_there(services: dict[str, dict[str, Any]]) -> None:
    assert {"web", "worker", "beat", "neo4j", "redis", "vllm"} <= services.keys()
    for name, service in services.items():
        for dep in service.get("depends_on") or {}:
            assert dep in services, f"{name} depends on {dep}, which is no service"


def test_secrets_come_from_env_and_are_required(raw: dict[str, Any]) -> None:
    try:
        interpolate(raw, {})
    except InterpolationError as e:
        assert "PASSWORD" in str(e), e
    else:
        pytest.fail("compose.yaml starts without .env: its passwords must be ${VAR:?message}, not defaulted")
    for name, service in raw["services"].items():
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key) and value not in (None, "none"):
                assert re.search(r"\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}", value), (
                    f"{name}: {key} is written in compose.yaml, not taken from .env"
                )
    for text in _strings(raw["services"]):
        for userinfo in re.findall(r"://[^/@\s]*:([^@/\s]*)@", text):
            assert userinfo.startswith("${"), f"a password written into {text!r}"


def test_every_variable_is_in_env_example(raw: dict[str, Any], example_env: dict[str, str]) -> None:
    used: set[str] = set()
    interpolate(raw, example_env, used)
    text = ENV_EXAMPLE.read_text()
    missing = sorted(v for v in used if not re.search(rf"^#?\s*{v}=", text, re.MULTILINE))
    assert not missing, f".env.example does not mention {missing}"


def test_mokg_variables_are_settings(
    services: dict[str, dict[str, Any]], example_env: dict[str, str]
) -> None:
    known = {f.metadata["env"] for f in fields(Settings) if "env" in f.metadata}
    assert "MOKG_GRAPH_URI" in known  # the list comes from the dataclass, and is not empty
    sources = {f"service {name}": _environment(s) for name, s in services.items()}
    sources |= {".env.example": dict(example_env), "the Dockerfile": dict(_docker_env())}
    for where, env in sources.items():
        unknown = sorted(k for k in env if k.startswith("MOKG_") and k not in known)
        assert not unknown, f"{where} sets {unknown}, which mokg.config.Settings does not read"


def test_app_services_settings_load(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = {name: s for name, s in services.items() if _uses_app_image(s)}
    assert {"web", "worker", "beat"} <= app.keys()
    for name, service in app.items():
        with monkeypatch.context() as m:
            for key in list(os.environ):
                if key.startswith("MOKG_"):
                    m.delenv(key)
            for key, value in (_docker_env() | _environment(service)).items():
                if key.startswith("MOKG_") and value is not None:
                    m.setenv(key, value)
            s = Settings()  # raises SettingsError on a value the platform cannot use
            assert s.graph_dialect == "neo4j" and s.graph_uri.startswith("bolt://neo4j:"), name
            assert s.broker_url.startswith("redis://") and "@redis:" in s.broker_url, name
            assert "127.0.0.1" not in s.llm_url, f"{name}: the LLM URL is the container's own loopback"


def test_published_ports_are_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert service.get("network_mode") != "host", f"{name}: network_mode host publishes every port"
        for port in service.get("ports") or []:
            if isinstance(port, dict):
                ok = port.get("host_ip") == "127.0.0.1" and "published" in port
            else:
                ok = str(port).startswith("127.0.0.1:")
            assert ok, f"{name}: port {port!r} is not bound to 127.0.0.1"


def test_web_binds_all_interfaces_inside_its_container(services: dict[str, dict[str, Any]]) -> None:
    # the host side is loopback (above); inside, 127.0.0.1 would be unreachable through the mapping
    env = _environment(services["web"])
    assert env.get("MOKG_WEB_HOST") == "0.0.0.0"
    port = env.get("MOKG_WEB_PORT")
    assert port, "set MOKG_WEB_PORT in the web service: its port mapping and health check name it"
    assert any(str(p).endswith(f":{port}") for p in services["web"]["ports"])
    assert any(f":{port}/healthz" in s for s in _strings(services["web"]["healthcheck"]))


def test_long_running_services_have_health_checks(services: dict[str, dict[str, Any]]) -> None:
    one_shot = {
        dep
        for s in services.values()
        for dep, how in (s.get("depends_on") or {}).items()
        if isinstance(how, dict) and how.get("condition") == "service_completed_successfully"
    }
    for name, service in services.items():
        if name in one_shot:
            assert service.get("restart") == "no", f"{name} runs once: restart must be 'no'"
            continue
        check = service.get("healthcheck")
        assert check, f"{name} runs on but has no healthcheck"
        assert not check.get("disable") and check.get("test") not in ("NONE", ["NONE"]), f"{name}: disabled"
    for name, service in services.items():
        for dep, how in (service.get("depends_on") or {}).items():
            if isinstance(how, dict) and how.get("condition") == "service_healthy":
                assert services[dep].get("healthcheck"), (
                    f"{name} waits for {dep} to be healthy: it has no check"
                )


def test_app_services_wait_for_a_healthy_graph_and_broker(services: dict[str, dict[str, Any]]) -> None:
    for name in ("web", "worker", "beat"):
        deps = services[name].get("depends_on") or {}
        for dep in ("neo4j", "redis"):
            assert (deps.get(dep) or {}).get("condition") == "service_healthy", f"{name} -> {dep}"


def test_commands_and_health_checks_of_the_app_image_resolve(services: dict[str, dict[str, Any]]) -> None:
    checked = 0
    for service in services.values():
        if not _uses_app_image(service):
            continue  # other images' programs cannot be checked here
        for key in ("entrypoint", "command"):
            value = service.get(key)
            if value:
                check_argv(value if isinstance(value, list) else shlex.split(value))
                checked += 1
        argv = _healthcheck_argv(service["healthcheck"]["test"]) if service.get("healthcheck") else None
        if argv:
            check_argv(argv)
            checked += 1
    assert checked >= 6


def test_dockerfile_builds_the_package_as_a_non_root_user() -> None:
    assert DOCKERFILE.is_file(), "no Dockerfile beside compose.yaml"
    instructions = _dockerfile()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [args for word, args in instructions if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image runs as root"
    for word, args in instructions:
        if word in ("ENV", "ARG"):
            assert not SECRET_NAME.search(args.upper()), f"{word} {args}: no secret in the image"
    runs = " ".join(args for word, args in instructions if word == "RUN")
    train = _pyproject()["project"]["optional-dependencies"]["train"]
    torch_pin = next(r for r in train if r.startswith("torch=="))
    assert re.search(
        rf"--index-url https://download\.pytorch\.org/whl/cpu\s+'?{re.escape(torch_pin)}'?", runs
    ), f"the Dockerfile must install {torch_pin} from the PyTorch CPU index (the train extra's pin)"
    assert re.search(r"pip install '?\.\[[^\]]*\bweb\b", runs) and "workers" in runs, "installs the package"
    assert ".env" in (REPO / ".dockerignore").read_text().split(), ".env must stay out of the build context"


def test_dockerfile_command_imports() -> None:
    argv = _image_argv()
    assert argv, "the Dockerfile has no CMD or ENTRYPOINT"
    check_argv(argv)


def test_interpolation_follows_compose() -> None:
    env = {"SET": "v", "EMPTY": ""}
    used: set[str] = set()
    assert _interpolate_str("$$x ${SET} $SET ${EMPTY:-d} ${EMPTY-d} ${UNSET-d} ${SET:+a}", env, used) == (
        "$x v v d  d a"
    )
    assert used == {"SET", "EMPTY", "UNSET"}
    with pytest.raises(InterpolationError, match="set it"):
        _interpolate_str("${EMPTY:?set it}", env, used)
    assert _interpolate_str("${EMPTY?set it}", env, used) == ""
    with pytest.raises(InterpolationError):
        _interpolate_str("${UNSET}", env, used)
    with pytest.raises(InterpolationError, match="invalid"):
        _interpolate_str("${bad name}", env, used)
