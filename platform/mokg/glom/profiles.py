"""User and item profile prompts and generation (GLoM §3.2): P_u = LLM(M_u, S_u), P_v = LLM(M_v, S_v).

M_v = f_v(τ, δ, γ, r̂): title, description, attributes and a uniform sample r̂ of the item's reviews.
M_u = f_u({c_v | v ∈ Î_u}) with c_v = [τ, P_v, r_v^u] over a uniform sample Î_u of the user's items.
The guidelines S_u / S_v are per category (guidelines.json). One user message holds M followed by S, the
order of the paper's Figures 3-4; with SmolLM2-135M, S as a system message before M made the model echo the
item data instead of summarising it. Prompt building is pure and deterministic (seeded sampling over a
canonical order), so the prompt hash is stable across runs and the LLM cache never regenerates a profile.
"""

from __future__ import annotations

import html
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeVar

from mokg.llm.cache import stable_hash
from mokg.llm.client import ChatBackend, ChatRequest, Message, Progress

ProfileKind = Literal["item", "user"]
T = TypeVar("T")

MAX_WORDS = 100
# 100 English words are ~130-150 tokens; the margin lets the model end its sentence before the 100-word cut.
PROFILE_MAX_TOKENS = 192
GUIDELINES_PATH = Path(__file__).with_name("guidelines.json")

_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class PromptLimits:
    """Caps (characters, counts) that keep the longest prompt plus PROFILE_MAX_TOKENS inside a 2048-token
    context (checked against the real SmolLM2 tokenizer in the integration test)."""

    title_chars: int = 200
    description_chars: int = 1000
    attribute_chars: int = 150
    max_attributes: int = 8
    review_chars: int = 250
    max_reviews: int = 5  # |r̂|
    max_user_items: int = 5  # |Î_u|
    item_profile_chars: int = 450
    user_title_chars: int = 120


DEFAULT_LIMITS = PromptLimits()


@dataclass(frozen=True)
class ItemInfo:
    item_id: str
    title: str
    description: str = ""
    attributes: tuple[tuple[str, str], ...] = ()  # γ: (name, value), e.g. ("Brand", "Amazon")
    reviews: tuple[str, ...] = ()  # r: all review texts; a sample r̂ goes into the prompt


@dataclass(frozen=True)
class UserItem:
    """c_v = [τ, P_v, r_v^u] for one item the user interacted with."""

    item_id: str
    title: str
    item_profile: str = ""
    review: str = ""


@dataclass(frozen=True)
class UserInfo:
    user_id: str
    items: tuple[UserItem, ...]  # I_u


@dataclass(frozen=True)
class Guideline:
    """S_u or S_v: the task prompt plus bullet-point guidelines."""

    prompt: str
    guidelines: tuple[str, ...]

    def render(self, max_words: int) -> str:
        bullets = "\n".join(f"- {line}" for line in self.guidelines)
        return (
            f"Prompt: {self.prompt.format(max_words=max_words)}\n"
            f"Guideline:\n{bullets}\n"
            f"Answer with the profile only, as plain text of at most {max_words} words."
        )


@dataclass(frozen=True)
class ProfilePrompt:
    kind: ProfileKind
    entity_id: str
    messages: list[Message]
    prompt_hash: str


@dataclass(frozen=True)
class Profile:
    kind: ProfileKind
    entity_id: str
    text: str
    model: str
    prompt_hash: str


def clean_text(text: str, max_chars: int | None = None) -> str:
    """Plain text: HTML entities decoded (also double-escaped ones), tags dropped, whitespace collapsed,
    cut at a word boundary to ``max_chars`` with a trailing "..."."""
    for _ in range(3):  # scraped Amazon fields carry "&amp;amp;" and the like
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    text = _SPACE.sub(" ", _TAG.sub(" ", text)).strip()
    if max_chars is not None and len(text) > max_chars:
        cut = text[: max_chars - 3]
        if " " in cut:
            cut = cut.rsplit(" ", 1)[0]
        text = cut.rstrip(" ,;:") + "..."
    return text


def truncate_words(text: str, max_words: int = MAX_WORDS) -> str:
    """At most ``max_words`` whitespace-separated words, joined by single spaces."""
    return " ".join(text.split()[:max_words])


@lru_cache(maxsize=4)
def load_guidelines(path: Path = GUIDELINES_PATH) -> dict[str, dict[str, Guideline]]:
    """{normalised category: {"item": S_v, "user": S_u}}; the "default" entry is required."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    table = {
        _category_key(category): {
            kind: Guideline(spec["prompt"], tuple(spec["guidelines"])) for kind, spec in kinds.items()
        }
        for category, kinds in raw.items()
    }
    if "default" not in table:
        raise ValueError(f"{path}: no 'default' guidelines")
    return table


def _category_key(category: str) -> str:
    # "Gift_Cards" (dataset folder), "gift cards" and "Gift Cards" all select the same guidelines.
    return " ".join(category.replace("_", " ").lower().split())


def guideline_for(category: str, kind: ProfileKind, path: Path = GUIDELINES_PATH) -> Guideline:
    table = load_guidelines(path)
    entry = table.get(_category_key(category)) or table["default"]
    return entry.get(kind) or table["default"][kind]


def _uniform_sample(values: Sequence[T], k: int, seed: int, entity_id: str) -> list[T]:
    """Uniform sample of k values, kept in input order; reproducible for (seed, entity)."""
    if len(values) <= k:
        return list(values)
    rng = random.Random(f"{seed}:{entity_id}")  # str seeds hash with sha512: stable across processes
    return [values[i] for i in sorted(rng.sample(range(len(values)), k))]


def _messages(guideline: Guideline, body: str, max_words: int) -> list[Message]:
    return [{"role": "user", "content": f"{body}\n\n{guideline.render(max_words)}"}]


def _prompt(kind: ProfileKind, entity_id: str, messages: list[Message]) -> ProfilePrompt:
    return ProfilePrompt(kind, entity_id, messages, stable_hash(messages))


def item_prompt(
    item: ItemInfo,
    *,
    category: str = "",
    seed: int = 0,
    limits: PromptLimits = DEFAULT_LIMITS,
    max_words: int = MAX_WORDS,
) -> ProfilePrompt:
    """M_v = f_v(τ, δ, γ, r̂) with S_v of ``category``."""
    lines = ["Item data", f"Title: {clean_text(item.title, limits.title_chars) or '(untitled)'}"]
    description = clean_text(item.description, limits.description_chars)
    if description:
        lines.append(f"Description: {description}")
    attributes = [
        (clean_text(name, 40).rstrip(":"), clean_text(value, limits.attribute_chars))
        for name, value in item.attributes
    ]
    attributes = [(name, value) for name, value in attributes if name and value][: limits.max_attributes]
    if attributes:
        lines.append("Attributes:")
        lines.extend(f"- {name}: {value}" for name, value in attributes)
    # Sorted, de-duplicated pool: the sample must not depend on the order the caller read reviews in.
    pool = sorted({clean_text(review, limits.review_chars) for review in item.reviews} - {""})
    reviews = _uniform_sample(pool, limits.max_reviews, seed, item.item_id)
    if reviews:
        lines.append("Subset of Reviews:")
        lines.extend(f'- "{review}"' for review in reviews)
    return _prompt(
        "item", item.item_id, _messages(guideline_for(category, "item"), "\n".join(lines), max_words)
    )


def user_prompt(
    user: UserInfo,
    *,
    category: str = "",
    seed: int = 0,
    limits: PromptLimits = DEFAULT_LIMITS,
    max_words: int = MAX_WORDS,
) -> ProfilePrompt:
    """M_u = f_u({[τ, P_v, r_v^u] | v ∈ Î_u}) with S_u of ``category``."""
    pool = sorted(user.items, key=lambda it: it.item_id)
    lines = ["Purchased Items"]
    for number, item in enumerate(_uniform_sample(pool, limits.max_user_items, seed, user.user_id), 1):
        lines.append(f"{number}. Title: {clean_text(item.title, limits.user_title_chars) or '(untitled)'}")
        profile = clean_text(item.item_profile, limits.item_profile_chars)
        if profile:
            lines.append(f"   Item profile: {profile}")
        review = clean_text(item.review, limits.review_chars)
        lines.append(f'   Review: "{review}"' if review else "   Review: (none)")
    return _prompt(
        "user", user.user_id, _messages(guideline_for(category, "user"), "\n".join(lines), max_words)
    )


def generate_profiles(
    client: ChatBackend,
    prompts: Sequence[ProfilePrompt],
    progress: Progress | None = None,
    *,
    temperature: float = 0.0,
    max_tokens: int = PROFILE_MAX_TOKENS,
    seed: int | None = None,
    max_words: int = MAX_WORDS,
) -> list[Profile]:
    """P = LLM(M, S) for every prompt (cached, concurrent), each cut to ``max_words`` words."""
    results = client.chat_many(
        [ChatRequest(p.messages, temperature=temperature, max_tokens=max_tokens, seed=seed) for p in prompts],
        progress,
    )
    return [
        Profile(p.kind, p.entity_id, truncate_words(r.text, max_words), r.model, p.prompt_hash)
        for p, r in zip(prompts, results, strict=True)
    ]
