"""An LLM judge: the third accuracy proxy of `mokg pair eval` (issue 16, item 6).

The model behind the evaluation's own client answers *yes* or *no* (constrained to that choice) to one
statement per triple: the source's name, the relation's label and description, and the target's name. Its
answers mean something only as far as they agree with what is known, so the judge is also **calibrated on
the SupKG**: the seeds' ALSO_BOUGHT items, stated as complementary products (positives), against the same
seeds paired with items they have no link to (negatives, as many). The report gives each variant's *yes*
share beside that agreement, and says that the share ranks nothing when the judge cannot tell the two
apart (balanced accuracy under :data:`MIN_AGREEMENT`) or the calibration is too small or too garbled to say.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from mokg.llm.client import ChatBackend, ChatRequest
from mokg.pair.schema import RelationSchema

# below this balanced accuracy on SupKG facts against corruptions the judge's yes share is not a verdict;
# nor is it on fewer answers a side (at 30 a side its standard error is still about ±0.065), or when
# more than a tenth of either side could not be read (those left out need not be a random share)
MIN_AGREEMENT = 0.6
MIN_ANSWERED = 30
MAX_UNPARSED_SHARE = 0.1
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["answer"],
}
SYSTEM = (
    "You check facts for a marketing knowledge graph. Read the statement and answer whether it is true "
    'of the source. Reply with JSON: {"answer": "yes"} or {"answer": "no"}.'
)
# what an ALSO_BOUGHT fact says, in the terms of the mined relations
SUPKG_AS = "COMPLEMENTARY_PRODUCT"


@dataclass(frozen=True)
class Statement:
    source: str
    relation: str
    target: str


@dataclass(frozen=True)
class Answers:
    """The judge's answers to a set of statements: ``yes`` of ``asked``; ``unparsed`` gave neither."""

    asked: int
    yes: int
    unparsed: int = 0
    model: str = ""  # the model that answered

    @property
    def answered(self) -> int:
        return self.asked - self.unparsed

    @property
    def yes_share(self) -> float | None:
        return self.yes / self.answered if self.answered else None


@dataclass(frozen=True)
class Agreement:
    """The judge on SupKG facts (``facts``) and on corruptions of them (``corruptions``)."""

    facts: Answers
    corruptions: Answers

    @property
    def model(self) -> str:
        return self.facts.model or self.corruptions.model

    @property
    def _shares(self) -> tuple[float, float] | None:
        """(yes share on facts, yes share on corruptions); None where a side has no readable answer."""
        tpr, fpr = self.facts.yes_share, self.corruptions.yes_share
        return None if tpr is None or fpr is None else (tpr, fpr)

    @property
    def balanced_accuracy(self) -> float | None:
        shares = self._shares
        return None if shares is None else (shares[0] + 1.0 - shares[1]) / 2.0

    @property
    def standard_error(self) -> float | None:
        """One standard error of :attr:`balanced_accuracy` (two independent binomial shares)."""
        if self._shares is None:
            return None
        tpr, fpr = self._shares
        var = tpr * (1 - tpr) / self.facts.answered + fpr * (1 - fpr) / self.corruptions.answered
        return math.sqrt(var) / 2

    @property
    def informative(self) -> bool:
        ba = self.balanced_accuracy
        sides = (self.facts, self.corruptions)
        # (tpr + 1 - fpr) / 2 in floats can fall just short of an exact MIN_AGREEMENT: hence the 1e-9
        return (
            ba is not None
            and ba + 1e-9 >= MIN_AGREEMENT
            and all(a.answered >= MIN_ANSWERED for a in sides)
            and all(a.unparsed <= MAX_UNPARSED_SHARE * a.asked for a in sides)
        )


def request(schema: RelationSchema, statement: Statement, max_tokens: int = 32) -> ChatRequest:
    # 8 tokens hold {"answer": "yes"}; the grammar lets a model spend more on whitespace first
    text = (
        f"Source: {statement.source}\n"
        f"Relation: {schema.describe(statement.relation)}\n"
        f"Target: {statement.target}\n"
        "Is the target a correct instance of this relation for the source?"
    )
    return ChatRequest(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}],
        json_schema=ANSWER_SCHEMA,
        temperature=0.0,
        max_tokens=max_tokens,
    )


def ask(
    llm: ChatBackend,
    schema: RelationSchema,
    statements: Sequence[Statement],
    progress: Callable[[int, int], None] | None = None,
) -> Answers:
    """The judge's answers to ``statements``."""
    if not statements:
        return Answers(0, 0)
    results = llm.chat_many([request(schema, s) for s in statements], progress)
    yes = unparsed = 0
    for r in results:
        answer = r.parsed_json.get("answer") if isinstance(r.parsed_json, dict) else None
        if answer == "yes":
            yes += 1
        elif answer != "no":
            unparsed += 1
    return Answers(len(statements), yes, unparsed, next((r.model for r in results if r.model), ""))


def calibration(
    facts: Sequence[tuple[str, str]], linked: Collection[frozenset[str]], names: Mapping[str, str], limit: int
) -> tuple[list[Statement], list[Statement]]:
    """Up to ``limit`` (source ref, target ref) facts as statements, and a corruption for each where one
    exists: the fact's source with another fact's target it has no link to (``linked``: unordered pairs of
    refs). One question per distinct wording (titles repeat: many items are "Amazon.com Gift Card"), and no
    corruption worded like a fact. Refs without a name are left out. In a fixed hash order, so a re-run
    asks the same (cached) questions."""
    named = sorted({f for f in facts if f[0] in names and f[1] in names}, key=_hash)
    fact_texts = {(names[s], names[t]) for s, t in named}
    chosen: list[tuple[str, str]] = []
    asked: set[tuple[str, str]] = set()
    for s, t in named:
        text = (names[s], names[t])
        if text not in asked and text[0] != text[1] and len(chosen) < limit:
            asked.add(text)
            chosen.append((s, t))
    targets = sorted({t for _, t in chosen})
    positives = [Statement(names[s], SUPKG_AS, names[t]) for s, t in chosen]
    negatives: list[Statement] = []
    for i, (source, _) in enumerate(chosen):
        for step in range(len(targets)):  # from a different place for each fact, so the targets vary
            other = targets[(i + 1 + step) % len(targets)]
            text = (names[source], names[other])
            if (
                frozenset((source, other)) not in linked
                and text[0] != text[1]
                and text not in fact_texts
                and text not in asked
            ):
                asked.add(text)
                negatives.append(Statement(text[0], SUPKG_AS, text[1]))
                break
    return positives, negatives


def _hash(fact: tuple[str, str]) -> str:
    return hashlib.sha256("\x1f".join(fact).encode()).hexdigest()
