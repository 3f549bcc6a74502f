"""The n samples of one prompt as one llama-server request (``n`` choices), against the real server."""

from __future__ import annotations

from pathlib import Path

from mokg.config import Settings
from mokg.llm.client import LLMClient
from mokg.stack import down, up

SCHEMA = {
    "type": "object",
    "properties": {"targets": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
    "required": ["targets"],
}
MESSAGES = [{"role": "user", "content": "Starbucks gift card. Who would buy it? Answer as JSON."}]


def restart(settings: Settings) -> None:
    """Empty slots and prompt cache. A seed reproduces llama-server's choices only from the same server state:
    where the prompt's KV sits among other slots' cached prompts, and whether it is reused, changes the low bits
    of the logits (the server's README: cache_prompt "can cause nondeterministic results"). On the session's
    server, after other tests, this test's second request parted from the first in 3 of 10 CI runs."""
    down(settings, ["llm"])
    up(settings, ["llm"])


def test_samples_of_one_prompt_are_distinct_schema_bound_reproducible_and_cached(
    llm_settings: Settings, tmp_path: Path
) -> None:
    settings = llm_settings.with_(home=tmp_path)
    client = LLMClient(settings)
    restart(llm_settings)
    samples = client.samples(MESSAGES, 3, json_schema=SCHEMA, temperature=0.9, max_tokens=48, seed=5)
    assert len(samples) == 3 and not any(s.cached for s in samples)
    assert len({s.text for s in samples}) > 1, [s.text for s in samples]  # sampled apart, not copies
    for s in samples:
        # the grammar holds for every choice (a reply cut at max_tokens is the one way out of it)
        assert s.parsed_json is not None or s.completion_tokens >= 40, s.text
        assert s.completion_tokens > 0
    # the prompt was processed once and is counted once
    assert samples[0].prompt_tokens > 0 and samples[1].prompt_tokens == samples[2].prompt_tokens == 0
    restart(llm_settings)
    again = LLMClient(settings, use_cache=False).samples(
        MESSAGES, 3, json_schema=SCHEMA, temperature=0.9, max_tokens=48, seed=5
    )
    assert [s.text for s in again] == [s.text for s in samples]  # same seed, same choices
    cached = client.samples(MESSAGES, 3, json_schema=SCHEMA, temperature=0.9, max_tokens=48, seed=5)
    assert all(s.cached for s in cached) and [s.text for s in cached] == [s.text for s in samples]
