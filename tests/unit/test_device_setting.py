"""MOKG_DEVICE: where training and the text embedder run."""

from __future__ import annotations

import pytest
import torch

from mokg.config import Settings, SettingsError
from mokg.llm.embeddings import TextEmbedder


def test_unknown_device_is_refused_naming_the_setting() -> None:
    with pytest.raises(SettingsError, match="MOKG_DEVICE='gpu'"):
        Settings(device="gpu")


def test_auto_follows_what_torch_sees(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert Settings(device="auto").torch_device == "cpu"
    assert Settings(device="cpu").torch_device == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert Settings(device="auto").torch_device == "cuda"
    assert Settings(device="cpu").torch_device == "cpu"


def test_cuda_without_a_gpu_is_an_error_not_a_silent_cpu_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SettingsError, match="no CUDA device"):
        _ = Settings(device="cuda").torch_device


def test_the_text_embedder_takes_the_device_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert TextEmbedder.from_settings(Settings(device="auto")).device == "cpu"
    assert TextEmbedder.from_settings(Settings(device="cpu"), device="cuda").device == "cuda"
