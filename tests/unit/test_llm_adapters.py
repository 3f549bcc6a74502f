"""Finding the LightPAIR adapter in an endpoint's listing: our logic around the server's answer (the served
path is tested against a real llama-server in tests/integration/test_lightpair_serving.py)."""

from __future__ import annotations

import pytest

from mokg.config import Settings
from mokg.llm.adapters import AdapterNotServed, find_adapter


def test_llama_server_adapters_are_found_by_their_artifact_folder() -> None:
    listing = [
        {"id": 0, "path": "/h/artifacts/lightpair/aaa111/adapter.gguf", "scale": 0.0},
        {"id": 1, "path": "/h/artifacts/lightpair/bbb222/adapter.gguf", "scale": 0.0},
    ]
    found = find_adapter(Settings(llm_backend="llamacpp", llm_model="smol"), "bbb222", listing)
    assert (found.version, found.model, found.lora_id) == ("bbb222", "smol", 1)
    assert found.label == "smol+lora:bbb222"


def test_vllm_adapters_are_models_with_a_parent() -> None:
    listing = {
        "data": [
            {"id": "HuggingFaceTB/SmolLM2-135M-Instruct", "root": "HuggingFaceTB/SmolLM2-135M-Instruct"},
            {"id": "lightpair", "root": "/data/artifacts/lightpair/aaa111", "parent": "HuggingFaceTB/x"},
        ]
    }
    found = find_adapter(Settings(llm_backend="vllm"), "aaa111", listing)
    assert (found.model, found.lora_id, found.label) == ("lightpair", None, "lightpair+lora:aaa111")


@pytest.mark.parametrize("backend", ["llamacpp", "vllm"])
def test_an_adapter_the_server_lacks_is_a_clear_error(backend: str) -> None:
    listing = (
        [{"id": 0, "path": "/h/lightpair/old000/adapter.gguf"}] if backend == "llamacpp" else {"data": []}
    )
    with pytest.raises(AdapterNotServed, match=r"does not serve LightPAIR adapter new111 \(it serves: "):
        find_adapter(Settings(llm_backend=backend), "new111", listing)
