"""GLoM §3.2 profile prompts: cleaning, caps, seeded sampling, guideline selection, 100-word truncation."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from mokg.config import Settings
from mokg.glom.profiles import (
    DEFAULT_LIMITS,
    GUIDELINES_PATH,
    PROFILE_MAX_TOKENS,
    ItemInfo,
    ProfilePrompt,
    PromptLimits,
    UserInfo,
    UserItem,
    clean_text,
    generate_profiles,
    guideline_for,
    item_prompt,
    truncate_words,
    user_prompt,
)
from mokg.llm.client import ChatRequest, ChatResult, LLMClient, Progress

REVIEWS = tuple(f"Review number {i} says the card arrived quickly." for i in range(12))
ITEM = ItemInfo(
    item_id="B001",
    title="Starbucks &amp;amp; Friends <b>Gift Card</b>",
    description="<p>Use at any&nbsp;store.</p>\n\n  No fees.",
    attributes=(("Brand:", "Starbucks"), ("Price", ""), ("Category", "Gift Cards &gt; Restaurants")),
    reviews=REVIEWS,
)


def _content(prompt: ProfilePrompt) -> str:
    return "\n".join(message["content"] for message in prompt.messages)


# -- text helpers --------------------------------------------------------------------------------------


def test_clean_text_strips_html_and_entities() -> None:
    assert clean_text(ITEM.title) == "Starbucks & Friends Gift Card"
    assert clean_text(ITEM.description) == "Use at any store. No fees."
    assert clean_text("a</span> b <br/>c") == "a b c"


def test_clean_text_caps_at_a_word_boundary() -> None:
    text = "alpha beta gamma delta epsilon"
    assert clean_text(text, 17) == "alpha beta..."
    assert len(clean_text("x" * 50, 10)) == 10
    assert clean_text(text, 100) == text


def test_truncate_words() -> None:
    words = [f"w{i}" for i in range(150)]
    assert truncate_words(" ".join(words)) == " ".join(words[:100])
    assert truncate_words("  short\n answer ") == "short answer"
    assert len(truncate_words("a " * 30, 7).split()) == 7


# -- guidelines ----------------------------------------------------------------------------------------


def test_guidelines_file_has_default_and_dataset_categories() -> None:
    raw = json.loads(GUIDELINES_PATH.read_text())
    for category in ("default", "Gift Cards", "All Beauty"):
        assert set(raw[category]) == {"item", "user"}
        assert all("{max_words}" in raw[category][kind]["prompt"] for kind in ("item", "user"))


def test_guideline_lookup_normalises_category() -> None:
    gift = guideline_for("Gift Cards", "item")
    assert guideline_for("Gift_Cards", "item") == gift == guideline_for("  gift  cards ", "item")
    assert gift != guideline_for("All_Beauty", "item")
    assert guideline_for("Automotive", "user") == guideline_for("default", "user")
    assert "gift card" in gift.prompt


# -- item prompt M_v -----------------------------------------------------------------------------------


def test_item_prompt_contents() -> None:
    prompt = item_prompt(ITEM, category="Gift_Cards", seed=1)
    text = _content(prompt)
    assert prompt.kind == "item" and prompt.entity_id == "B001"
    assert [m["role"] for m in prompt.messages] == ["user"]
    assert "Title: Starbucks & Friends Gift Card" in text
    assert "Description: Use at any store. No fees." in text
    assert "- Brand: Starbucks" in text and "- Category: Gift Cards > Restaurants" in text
    assert "Price" not in text  # empty attributes are dropped
    assert "within 100 words" in text and "at most 100 words" in text
    assert (
        sum(line.startswith('- "Review number') for line in text.splitlines()) == DEFAULT_LIMITS.max_reviews
    )
    # The data M_v comes before the guideline S_v.
    assert text.index("Item data") < text.index("Guideline:")


def test_item_prompt_is_stable_and_order_independent() -> None:
    shuffled = list(REVIEWS)
    random.Random(0).shuffle(shuffled)
    reordered = ItemInfo(ITEM.item_id, ITEM.title, ITEM.description, ITEM.attributes, tuple(shuffled))
    assert item_prompt(ITEM, seed=3) == item_prompt(reordered, seed=3)
    assert item_prompt(ITEM, seed=3).prompt_hash != item_prompt(ITEM, seed=4).prompt_hash
    assert len(item_prompt(ITEM).prompt_hash) == 64


def test_item_prompt_respects_caps() -> None:
    limits = PromptLimits(
        title_chars=20,
        description_chars=50,
        attribute_chars=30,
        max_attributes=2,
        review_chars=40,
        max_reviews=2,
    )
    big = ItemInfo(
        "X",
        "T" * 500,
        "word " * 400,
        tuple((f"a{i}", "v " * 100) for i in range(9)),
        tuple(f"{i} " + "great " * 100 for i in range(9)),
    )
    text = _content(item_prompt(big, limits=limits))
    lines = text.splitlines()
    title = next(line for line in lines if line.startswith("Title: "))
    assert len(title) <= len("Title: ") + 20
    assert len(next(line for line in lines if line.startswith("Description: "))) <= len("Description: ") + 50
    attributes = [line for line in lines if line.startswith("- a")]
    assert len(attributes) == 2 and all(len(line) <= len("- a0: ") + 30 for line in attributes)
    reviews = [line for line in lines if line.startswith('- "')]
    assert len(reviews) == 2 and all(len(line) <= 4 + 40 for line in reviews)


def test_item_prompt_without_reviews_or_description() -> None:
    text = _content(item_prompt(ItemInfo("Y", "")))
    assert "Title: (untitled)" in text
    assert "Subset of Reviews" not in text and "Description" not in text


# -- user prompt M_u -----------------------------------------------------------------------------------


def _user(n: int) -> UserInfo:
    items = tuple(
        UserItem(f"I{i:02d}", f"Card {i}", f"Profile of card {i}.", f"Loved card {i}") for i in range(n)
    )
    return UserInfo("U1", items)


def test_user_prompt_contents() -> None:
    prompt = user_prompt(_user(3), category="All Beauty")
    text = _content(prompt)
    assert prompt.kind == "user" and prompt.entity_id == "U1"
    assert text.startswith("Purchased Items\n1. Title: Card 0\n   Item profile: Profile of card 0.\n")
    assert '   Review: "Loved card 2"' in text
    assert "beauty products" in text and "within 100 words" in text


def test_user_prompt_samples_a_capped_uniform_subset() -> None:
    user = _user(10)
    k = DEFAULT_LIMITS.max_user_items
    counts: Counter[str] = Counter()
    seeds = 400
    for seed in range(seeds):
        titles = [line for line in _content(user_prompt(user, seed=seed)).splitlines() if ". Title: " in line]
        assert len(titles) == k
        counts.update(titles_item.split("Title: ")[1] for titles_item in titles)
    # Uniform: each of the 10 items is in the sample with probability k/10 = 0.5.
    assert set(counts) == {f"Card {i}" for i in range(10)}
    assert all(abs(count / seeds - k / 10) < 0.1 for count in counts.values())


def test_user_prompt_is_order_independent_and_handles_missing_fields() -> None:
    user = _user(8)
    reversed_user = UserInfo(user.user_id, tuple(reversed(user.items)))
    assert user_prompt(user, seed=9) == user_prompt(reversed_user, seed=9)
    text = _content(user_prompt(UserInfo("U2", (UserItem("A", "Lipstick"),))))
    assert "Item profile" not in text and "Review: (none)" in text


# -- generation ----------------------------------------------------------------------------------------


class ScriptedClient:
    """Stands in for LLMClient.chat_many: replies with a fixed text per call, records the requests."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.requests: list[ChatRequest] = []

    def chat_many(
        self, requests: Sequence[ChatRequest], progress: Progress | None = None
    ) -> list[ChatResult]:
        self.requests.extend(requests)
        return [
            ChatResult(f"{self.reply} {i}", None, 1, 1, False, "fake-model") for i in range(len(requests))
        ]


def test_generate_profiles_truncates_to_100_words() -> None:
    prompts = [item_prompt(ITEM), user_prompt(_user(2))]
    client = ScriptedClient(" ".join(["word"] * 150))
    profiles = generate_profiles(client, prompts)
    assert [len(p.text.split()) for p in profiles] == [100, 100]
    assert [(p.kind, p.entity_id, p.prompt_hash, p.model) for p in profiles] == [
        ("item", "B001", prompts[0].prompt_hash, "fake-model"),
        ("user", "U1", prompts[1].prompt_hash, "fake-model"),
    ]
    assert [r.messages for r in client.requests] == [p.messages for p in prompts]
    assert all(r.max_tokens == PROFILE_MAX_TOKENS and r.temperature == 0.0 for r in client.requests)


def test_generate_profiles_keeps_short_replies() -> None:
    profiles = generate_profiles(ScriptedClient("A  short\nprofile."), [item_prompt(ITEM)])
    assert profiles[0].text == "A short profile. 0"


# -- integration: the real llama.cpp server ------------------------------------------------------------


@pytest.mark.llm
@pytest.mark.integration
def test_real_profiles_fit_context_and_word_cap(llm_settings: Settings, tmp_path: Path) -> None:
    client = LLMClient(llm_settings.with_(home=tmp_path))
    # Longest prompts the caps allow, in English prose: they must leave room for the reply in 2048 tokens.
    sentence = "This lovely gift card arrived quickly and my niece was delighted with the design. "
    longest_item = ItemInfo(
        "MAX",
        sentence * 5,
        sentence * 30,
        tuple((f"Feature {i}", sentence * 3) for i in range(20)),
        tuple(f"{i} {sentence * 5}" for i in range(20)),
    )
    longest_user = UserInfo(
        "MAXU", tuple(UserItem(f"I{i}", sentence * 3, sentence * 10, sentence * 5) for i in range(20))
    )
    for prompt in (item_prompt(longest_item, category="Gift Cards"), user_prompt(longest_user)):
        usage = client.chat(prompt.messages, max_tokens=1)
        assert usage.prompt_tokens + PROFILE_MAX_TOKENS <= 2048, usage.prompt_tokens

    real_item = ItemInfo(
        "B00TEST",
        "Amazon.com Gift Card in a Birthday Box",
        "Amazon.com Gift Cards are redeemable for millions of items storewide and never expire.",
        (("Brand", "Amazon"),),
        ("My daughter loved it.", "Arrived in a pretty box, great last minute gift."),
    )
    profiles = generate_profiles(client, [item_prompt(real_item, category="Gift Cards")])
    assert profiles[0].text and len(profiles[0].text.split()) <= 100
    assert profiles[0].model == llm_settings.llm_model
