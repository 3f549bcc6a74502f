"""Which LoRA adapter of the OpenAI-compatible endpoint a request goes to, found by asking the endpoint.

* **llama.cpp** (embedded): ``mokg stack up`` starts ``llama-server`` with the adapter's GGUF at scale 0
  (``--lora-scaled``). ``GET /lora-adapters`` lists ``{id, path, scale}``; a request applies one with
  ``"lora": [{"id": id, "scale": 1}]``, and the others (PAIR, profiles) run on the base model in the same
  server (:func:`~mokg.llm.client.build_request_body` says why they send ``scale 0`` explicitly).
* **vLLM** (production): a server of the student's base model with ``--enable-lora --lora-modules
  lightpair=<adapter folder>`` (compose.yaml's ``lightpair`` service; the teacher is another model on another
  server, so ``MOKG_LIGHTPAIR_BASE_URL`` names it). ``GET /v1/models`` lists the adapter as its own model
  (``root`` = the folder); a request names it as ``model``.

Either way the adapter's version is the name of the folder it was loaded from
(``artifacts/lightpair/<version>/``), so the version recorded on a triple is the one the server really holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from mokg.config import Settings


class AdapterNotServed(RuntimeError):
    """The endpoint does not serve the requested adapter version."""


@dataclass(frozen=True)
class ServedAdapter:
    version: str
    model: str  # the "model" a request sends
    url: str  # the endpoint's base URL (…/v1)
    lora_id: int | None = None  # llama-server: the adapter's id in the request's "lora" list

    @property
    def label(self) -> str:
        """The model name recorded as provenance (and keying the reply cache): what reached the endpoint."""
        return f"{self.model}+lora:{self.version}"


def _version_of(path: str) -> str:
    p = Path(path)
    return p.parent.name if p.suffix == ".gguf" else p.name


def find_adapter(settings: Settings, version: str, listing: Any) -> ServedAdapter:
    """The adapter ``version`` in an endpoint's listing (``GET /lora-adapters`` for llama.cpp, ``GET
    /v1/models`` for vLLM)."""
    found: list[str] = []
    if settings.llm_backend == "llamacpp":
        for entry in listing if isinstance(listing, list) else []:
            found.append(_version_of(str(entry.get("path", ""))))
            if found[-1] == version:
                return ServedAdapter(version, settings.llm_model, settings.lightpair_url, int(entry["id"]))
    else:
        for entry in listing.get("data", []) if isinstance(listing, dict) else []:
            if entry.get("parent"):  # vLLM lists a LoRA module with its base model as parent
                found.append(_version_of(str(entry.get("root", ""))))
                if found[-1] == version:
                    return ServedAdapter(version, str(entry["id"]), settings.lightpair_url)
    served = ", ".join(found) or "none"
    raise AdapterNotServed(
        f"the LLM server at {settings.lightpair_url} does not serve LightPAIR adapter {version} (it serves: {served}); "
        "restart it after training (`mokg stack down --only llm && mokg stack up --only llm`), or pass "
        "--adapter with a served version"
    )


def served_adapter(settings: Settings, version: str) -> ServedAdapter:
    """Ask the endpoint which adapters it holds and return ``version``'s, or raise :class:`AdapterNotServed`."""
    base = settings.lightpair_url.rstrip("/")
    url = (
        (base.removesuffix("/v1") + "/lora-adapters")
        if settings.llm_backend == "llamacpp"
        else base + "/models"
    )
    try:
        response = requests.get(url, headers=settings.llm_headers, timeout=10)
        response.raise_for_status()
        listing = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise AdapterNotServed(f"could not list the LLM server's adapters at {url}: {exc}") from exc
    return find_adapter(settings, version, listing)
