"""Settings are checked when read: a value the platform cannot use is one clear line naming the variable,
and `mokg settings` never prints a secret, whether a field holds it or a URL carries it."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mokg.config import Settings, SettingsError, mask_url_password, shown_settings


def _mokg(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mokg.apps.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "400", **env},
    )


# -- out-of-range numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("MOKG_BOLT_PORT", "-1"),
        ("MOKG_BOLT_PORT", "70000"),
        ("MOKG_ARCADEDB_HTTP_PORT", "0"),
        ("MOKG_VALKEY_PORT", "65536"),
        ("MOKG_LLM_PORT", "-8081"),
        ("MOKG_WEB_PORT", "99999"),
        ("MOKG_LLM_TIMEOUT_S", "-5"),
        ("MOKG_LLM_TIMEOUT_S", "0"),
        ("MOKG_LLM_TIMEOUT_S", "inf"),
        ("MOKG_TORCH_THREADS", "0"),
        ("MOKG_POLARITY_ALPHA", "nan"),
        ("MOKG_SIM_THRESHOLD", "nan"),
        ("MOKG_STREAM_RETRAIN_SHARE", "nan"),
        ("MOKG_WEB_SEED_TTL_S", "nan"),
        ("MOKG_ANALYST_REFUSAL_DELAY_S", "nan"),
    ],
)
def test_an_out_of_range_number_is_refused_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError, match=f"^{env}="):
        Settings()


def test_the_edges_of_the_ranges_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    for env, value in [("MOKG_BOLT_PORT", "1"), ("MOKG_WEB_PORT", "65535"), ("MOKG_LLM_TIMEOUT_S", "0.5")]:
        monkeypatch.setenv(env, value)
    monkeypatch.setenv("MOKG_TORCH_THREADS", "1")
    s = Settings()
    assert (s.bolt_port, s.web_port, s.llm_timeout_s, s.torch_threads) == (1, 65535, 0.5, 1)


def test_a_port_out_of_range_ends_the_command_in_one_line_not_a_traceback() -> None:
    proc = _mokg("stack", "status", MOKG_BOLT_PORT="70000", MOKG_HOME="/nonexistent/mokg-home")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "MOKG_BOLT_PORT=70000" in proc.stdout + proc.stderr


# -- the graph URI -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri", ["localhost:7687", "127.0.0.1:7687", "http://graph:7687", "bolt://", "bolt://graph:port", "graph"]
)
def test_a_graph_uri_without_a_bolt_scheme_and_host_is_refused(uri: str) -> None:
    with pytest.raises(SettingsError, match=r"^MOKG_GRAPH_URI="):
        Settings(graph_uri=uri)


@pytest.mark.parametrize(
    "uri",
    [
        "bolt://127.0.0.1:7687",
        "bolt+s://graph.example.org",
        "bolt+ssc://graph:7687",
        "neo4j://graph",
        "neo4j+s://graph:7687",
        "neo4j+ssc://graph",
        "bolt://[fd00::5]:7687",
    ],
)
def test_the_driver_schemes_are_accepted(uri: str) -> None:
    assert Settings(graph_uri=uri).bolt_uri == uri


def test_a_graph_uri_without_a_scheme_ends_the_command_in_one_line() -> None:
    proc = _mokg("schema", "apply", MOKG_GRAPH_URI="localhost:7687", MOKG_GRAPH_PASSWORD="x")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "MOKG_GRAPH_URI='localhost:7687'" in proc.stdout + proc.stderr


# -- the analyst graph user ----------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["root", "ROOT"])
def test_stack_up_refuses_an_analyst_user_that_is_the_graph_user_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, user: str
) -> None:
    from mokg import stack

    started: list[str] = []
    monkeypatch.setattr(stack, "start", lambda service: started.append(service.name) or "started")
    settings = Settings(home=tmp_path / "home", graph_uri="", graph_user="root", analyst_graph_user=user)
    with pytest.raises(SettingsError, match=r"^MOKG_ANALYST_GRAPH_USER=.*is MOKG_GRAPH_USER"):
        stack.up(settings, ["graph"])
    assert started == [] and not (tmp_path / "home").exists()


def test_the_analyst_user_set_up_never_drops_the_graph_user(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    services = importlib.import_module("mokg.stack.services")  # `mokg.stack.services` is also a function
    commands: list[str] = []
    monkeypatch.setattr(services.ArcadeDBHttp, "accepts_login", lambda self: False)
    monkeypatch.setattr(services, "arcadedb_server_command", lambda _s, command: commands.append(command))
    settings = Settings(
        home=tmp_path, graph_user="root", analyst_graph_user="root", analyst_graph_password="x"
    )
    with pytest.raises(SettingsError, match=r"^MOKG_ANALYST_GRAPH_USER='root' is MOKG_GRAPH_USER"):
        services.ensure_analyst_user(settings)
    assert commands == []  # no `drop user root`, no read-only `create user root`


def test_the_analysts_own_settings_are_still_valid() -> None:
    s = Settings(graph_user="root", analyst_graph_user="mokg_analyst")
    assert s.with_(graph_user=s.analyst_graph_user).graph_user == "mokg_analyst"


@pytest.mark.parametrize("user", ["root; drop user x", "a b", "1analyst", "", "an-alyst", "x`y"])
def test_an_arcadedb_analyst_user_is_an_identifier(user: str) -> None:
    # it goes as it is into ArcadeDB's `drop user` and `create user` server commands
    with pytest.raises(SettingsError, match=r"^MOKG_ANALYST_GRAPH_USER="):
        Settings(graph_dialect="arcadedb", analyst_graph_user=user)


def test_good_analyst_users_are_accepted() -> None:
    assert Settings(analyst_graph_user="mokg_analyst").analyst_graph_user == "mokg_analyst"
    assert Settings(analyst_graph_user="_Reader2").analyst_graph_user == "_Reader2"
    # Neo4j's users are made by its administrator, not by these commands
    assert Settings(graph_dialect="neo4j", analyst_graph_user="an-alyst").analyst_graph_user == "an-alyst"


# -- secrets in `mokg settings` -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@redis:6379/0", "redis://:***@redis:6379/0"),
        ("redis://default:s3cret@10.0.0.1:6379/0", "redis://default:***@10.0.0.1:6379/0"),
        ("https://me:p%40ss@mirror.example.org/amazon", "https://me:***@mirror.example.org/amazon"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://user@host/0", "redis://user@host/0"),
        ("not a url", "not a url"),
        ("", ""),
    ],
)
def test_the_password_of_a_url_is_masked(url: str, shown: str) -> None:
    assert mask_url_password(url) == shown


def test_shown_settings_mask_secret_fields_and_url_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOKG_BROKER_URL", "redis://:s3cret@redis:6379/0")
    monkeypatch.setenv("MOKG_LLM_BASE_URL", "http://me:s3cret@llm:8000/v1")
    monkeypatch.setenv("MOKG_DATA_MIRROR", "https://me:s3cret@mirror/amazon")
    monkeypatch.setenv("MOKG_GRAPH_URI", "bolt://neo4j:s3cret@graph:7687")
    monkeypatch.setenv("MOKG_GRAPH_PASSWORD", "s3cret")
    monkeypatch.setenv("MOKG_ANALYST_GRAPH_PASSWORD", "s3cret")
    monkeypatch.setenv("MOKG_LLM_API_KEY", "s3cret")
    rows = {env: value for env, value, _ in shown_settings(Settings())}
    assert not [env for env, value in rows.items() if "s3cret" in value]
    assert rows["MOKG_BROKER_URL"] == "redis://:***@redis:6379/0"
    assert rows["MOKG_GRAPH_PASSWORD"] == rows["MOKG_LLM_API_KEY"] == "***"


def test_fields_marked_secret_are_masked_whatever_their_name(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from mokg import config

    marked = [f.metadata["env"] for f in dataclasses.fields(Settings) if f.metadata.get("secret")]
    assert set(marked) >= {"MOKG_GRAPH_PASSWORD", "MOKG_ANALYST_GRAPH_PASSWORD", "MOKG_LLM_API_KEY"}
    # a secret field named otherwise is masked by its mark, not by its name
    doc_field = next(f for f in dataclasses.fields(Settings) if f.name == "embed_instruction")
    monkeypatch.setattr(
        doc_field, "metadata", {**doc_field.metadata, "secret": True}
    )  # the mark alone, on a field whose name says nothing
    monkeypatch.setattr(config, "fields", lambda _cls: [doc_field])
    assert shown_settings(Settings(embed_instruction="hidden")) == [
        ("MOKG_EMBED_INSTRUCTION", "***", doc_field.metadata["doc"])
    ]


def test_mokg_settings_does_not_print_the_broker_password() -> None:
    proc = _mokg("settings", MOKG_BROKER_URL="redis://:s3cret@redis.example.org:6379/0")
    assert proc.returncode == 0, proc.stderr
    assert "s3cret" not in proc.stdout + proc.stderr
    assert "redis://:***@redis.example.org:6379/0" in proc.stdout
