"""The LLM judge's own logic: its calibration set, how it reads answers, and what agreement it reports. The
judge against a real LLM server runs in tests/integration/test_pair_workers.py (`mokg pair eval`)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from mokg.llm.client import ChatRequest, ChatResult, parse_json_reply
from mokg.pair import judge
from mokg.pair.schema import RelationSchema

NAMES = {"Item:a": "Amazon card", "Item:b": "Gift box", "Item:c": "Greeting card", "Item:d": "Holiday tin"}


class Scripted:
    """Answers yes to statements whose target is in ``yes``, no to the rest; ``garbled`` get prose."""

    def __init__(self, yes: set[str], garbled: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.yes, self.garbled = yes, garbled
        self.seen: list[ChatRequest] = []

    def chat_many(self, requests: Sequence[ChatRequest], progress: object = None) -> list[ChatResult]:
        self.seen += requests
        out = []
        for r in requests:
            target = r.messages[-1]["content"].split("Target: ")[1].split("\n")[0]
            text = (
                "sure"
                if target in self.garbled
                else json.dumps({"answer": "yes" if target in self.yes else "no"})
            )
            out.append(ChatResult(text, parse_json_reply(text), 50, 4, False, "scripted"))
        return out


def test_calibration_pairs_each_fact_with_a_corruption_it_is_not_linked_to() -> None:
    facts = [("Item:a", "Item:b"), ("Item:c", "Item:d"), ("Item:a", "Item:b")]  # a duplicate: asked once
    linked = {frozenset(f) for f in facts} | {frozenset(("Item:a", "Item:d"))}
    positives, negatives = judge.calibration(facts, linked, NAMES, limit=10)
    assert sorted((p.source, p.target) for p in positives) == [
        ("Amazon card", "Gift box"),
        ("Greeting card", "Holiday tin"),
    ]
    # a is linked to b and d, so it has no corruption among the facts' targets; c's is b
    assert [(n.source, n.target) for n in negatives] == [("Greeting card", "Gift box")]
    assert {s.relation for s in positives + negatives} == {judge.SUPKG_AS}
    again = judge.calibration(list(reversed(facts)), linked, NAMES, limit=10)
    assert again == (positives, negatives)  # a fixed order: a re-run asks the cached questions
    assert len(judge.calibration(facts, linked, NAMES, limit=1)[0]) == 1
    assert judge.calibration([("Item:a", "Item:zz")], linked, NAMES, limit=10) == (
        [],
        [],
    )  # unnamed: left out


def test_calibration_asks_each_wording_once_and_never_words_a_corruption_like_a_fact() -> None:
    # titles repeat: a and e are both "Amazon card"; b and f both "Gift box"
    names = {**NAMES, "Item:e": "Amazon card", "Item:f": "Gift box"}
    facts = [("Item:a", "Item:b"), ("Item:e", "Item:f"), ("Item:e", "Item:d"), ("Item:c", "Item:b")]
    linked = {frozenset(f) for f in facts}
    positives, negatives = judge.calibration(facts, linked, names, limit=10)
    texts = [(p.source, p.target) for p in positives]
    assert len(texts) == len(set(texts)) == 3  # "Amazon card -> Gift box" once, though two facts say it
    corrupted = [(n.source, n.target) for n in negatives]
    assert len(corrupted) == len(set(corrupted))
    assert not set(corrupted) & set(texts)  # e -> b is unlinked by id but reads like the fact a -> b
    assert all(source != target for source, target in texts + corrupted)


def test_answers_are_constrained_and_counted_with_what_could_not_be_read() -> None:
    schema = RelationSchema.load()
    llm = Scripted(yes={"Gift box"}, garbled={"Holiday tin"})
    statements = [
        judge.Statement("Amazon card", "COMPLEMENTARY_PRODUCT", t)
        for t in ("Gift box", "Greeting card", "Holiday tin")
    ]
    answers = judge.ask(llm, schema, statements)
    assert answers == judge.Answers(asked=3, yes=1, unparsed=1, model="scripted")
    assert answers.yes_share == 0.5 and answers.answered == 2  # of the two it could read
    request = llm.seen[0]
    assert request.json_schema == judge.ANSWER_SCHEMA and request.temperature == 0.0
    assert schema.describe("COMPLEMENTARY_PRODUCT") in request.messages[-1]["content"]
    assert judge.ask(llm, schema, []) == judge.Answers(0, 0)


@pytest.mark.parametrize(
    ("on_facts", "on_corruptions", "balanced", "informative"),
    [
        (judge.Answers(40, 40), judge.Answers(40, 40), 0.5, False),  # says yes to everything
        (judge.Answers(40, 32), judge.Answers(40, 8), 0.8, True),
        (judge.Answers(40, 24), judge.Answers(40, 16), 0.6, True),
        (judge.Answers(30, 20), judge.Answers(30, 14), 0.6, True),  # exactly 0.6, whatever floats make of it
        (judge.Answers(10, 8), judge.Answers(10, 2), 0.8, False),  # too few answers to tell from noise
        (judge.Answers(40, 26, unparsed=8), judge.Answers(40, 0), 0.90625, False),  # a fifth unreadable
        (judge.Answers(4, 0, unparsed=4), judge.Answers(4, 0), None, False),  # nothing readable
    ],
)
def test_agreement_is_balanced_accuracy_and_a_verdict_needs_enough_of_it(
    on_facts: judge.Answers, on_corruptions: judge.Answers, balanced: float | None, informative: bool
) -> None:
    agreement = judge.Agreement(on_facts, on_corruptions)
    assert agreement.balanced_accuracy == (None if balanced is None else pytest.approx(balanced))
    assert agreement.informative is informative
    if balanced is not None:
        assert agreement.standard_error is not None and 0 <= agreement.standard_error <= 0.5


def test_the_standard_error_shrinks_with_the_calibration() -> None:
    small = judge.Agreement(judge.Answers(30, 21), judge.Answers(30, 14))
    large = judge.Agreement(judge.Answers(300, 210), judge.Answers(300, 140))
    assert small.balanced_accuracy == pytest.approx(large.balanced_accuracy)
    assert small.standard_error == pytest.approx(large.standard_error * 10**0.5)  # type: ignore[operator]
    # 0.7 of 30 facts and 0.467 of 30 corruptions: sqrt(0.21/30 + 0.249/30) / 2
    assert small.standard_error == pytest.approx(0.0618, abs=1e-3)


def test_a_corruption_never_reads_like_a_fact_left_out_by_the_limit() -> None:
    # x1 is another "Amazon card": the fact x1 -> d reads "Amazon card -> Holiday tin", and a -> d
    # (unlinked by id) would read the same. With room for two facts, the hash order leaves x1 -> d out of
    # the questions (the id x1 is picked for that), but its wording still may not be asked as a corruption.
    names = {**NAMES, "Item:x1": "Amazon card"}
    facts = [("Item:a", "Item:b"), ("Item:c", "Item:d"), ("Item:x1", "Item:d")]
    linked = {frozenset(f) for f in facts}
    for limit in (1, 2, 3):
        positives, negatives = judge.calibration(facts, linked, names, limit=limit)
        fact_texts = {(names[s], names[t]) for s, t in facts}
        assert not {(n.source, n.target) for n in negatives} & fact_texts, limit
    # and the case the rule is for happens: the limit leaves that fact out while a -> d is a candidate
    positives, _ = judge.calibration(facts, linked, names, limit=2)
    assert ("Amazon card", "Gift box") in {(p.source, p.target) for p in positives}
