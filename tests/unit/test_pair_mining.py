"""PAIR mining logic around LLM answers: a scripted stand-in for the LLM (logic only), no graph.

The real llama.cpp server, Valkey and ArcadeDB are exercised by tests/integration/test_pair_workers.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from conftest import word_embed

from mokg.llm.client import ChatRequest, ChatResult, parse_json_reply
from mokg.pair import store
from mokg.pair.config import LIGHTPAIR_PASS, MiningConfig
from mokg.pair.miner import MAX_NAME_CHARS, Miner, well_formed
from mokg.pair.plausibility import TypeFit
from mokg.pair.prompts import AnswerFormatError, parse_source_pass, parse_string_list, prompt_id
from mokg.pair.resolution import MatchKind
from mokg.pair.results import FilterCounts
from mokg.pair.runtime import EmbedCache
from mokg.pair.schema import RelationSchema
from mokg.pair.store import PoolEntry, SourceContext, SourceRef, is_held_out

SCHEMA = RelationSchema.load()
SOURCE = SourceContext(
    SourceRef("Item", "B0SOURCE"),
    "#1:1",
    "Starbucks Gift Card",
    ("Sold by: Starbucks", "Category: Gift Cards > Gift Cards"),
)
Reply = Callable[[ChatRequest], Any]


@dataclass
class ScriptedLLM:
    """Answers by request: ``relations`` replies for selection prompts, ``targets`` per augmentation step."""

    relations: list[Any] = field(default_factory=list)  # one answer per sample index
    targets: dict[str, list[Any]] = field(default_factory=dict)  # step -> one answer per sample index
    requests: list[ChatRequest] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)  # requests per chat_many call

    @staticmethod
    def step_of(request: ChatRequest) -> str:
        user = request.messages[-1]["content"]
        if "Targets already accepted" in user:
            return "domain_supkg_inherited"
        return "domain_supkg" if "Known facts" in user else "domain"

    def chat_many(self, requests: Sequence[ChatRequest], progress: object = None) -> list[ChatResult]:
        out = []
        self.batches.append(len(requests))
        for r in requests:
            self.requests.append(r)
            key = "relations" if "relations" in r.json_schema["properties"] else "targets"  # type: ignore[index]
            answers = self.relations if key == "relations" else self.targets.get(self.step_of(r), [[]] * 3)
            answer = answers[r.sample_index]
            text = answer if isinstance(answer, str) else json.dumps({key: answer})
            out.append(ChatResult(text, parse_json_reply(text), 100, 10, False, "scripted-llm"))
        return out


@dataclass
class StubScorer:
    """Duck-typed PlausibilityScorer: a fixed plausibility per target name (default 0.5)."""

    by_name: dict[str, float]
    manifest: Any = field(default_factory=lambda: type("M", (), {"version": "stub-v1"})())

    def for_source(self, source: str, relation_text: str) -> Callable[[Sequence[str]], np.ndarray]:
        return lambda names: np.array([self.by_name.get(n, 0.5) for n in names])


def no_pool(target_type: str) -> list[PoolEntry]:
    return []


def miner(llm: ScriptedLLM, pools: Callable[[str], list[PoolEntry]] = no_pool, **cfg: Any) -> Miner:
    scorer = cfg.pop("scorer", None)
    defaults: dict[str, Any] = {"type_fit": False, "use_scorer": False, "max_relations": 0}
    config = MiningConfig(**{**defaults, **cfg})
    return Miner(llm, SCHEMA, word_embed, pools, config, scorer)  # type: ignore[arg-type]


# -- relation selection ----------------------------------------------------------------------------------------
def test_relation_selection_keeps_majority_drops_outside_r_s_and_counts_malformed() -> None:
    llm = ScriptedLLM(
        relations=[
            ["TARGET_AUDIENCE", "OCCASION", "MAKES_COFFEE"],  # MAKES_COFFEE is outside R_s
            ["Target Audience", "OCCASION"],  # a label is accepted as its id
            "not json at all",
        ]
    )
    result = miner(llm).mine(SOURCE)
    assert result.selection.selected == ("TARGET_AUDIENCE", "OCCASION")  # 2 of 3 samples each: a majority
    assert result.selection.votes == {"TARGET_AUDIENCE": 2, "OCCASION": 2}
    assert result.selection.dropped == ("MAKES_COFFEE",)
    assert result.selection.malformed == 1 and result.counts.malformed == 1  # the unreadable sample counts


def test_relation_selection_needs_a_majority_of_n_and_respects_the_cap() -> None:
    llm = ScriptedLLM(
        relations=[
            ["TARGET_AUDIENCE", "OCCASION", "USAGE_SCENARIO"],
            ["OCCASION", "USAGE_SCENARIO"],
            ["OCCASION", "RELATED_BRAND"],
        ]
    )
    assert miner(llm).mine(SOURCE).selection.selected == ("USAGE_SCENARIO", "OCCASION")  # schema order
    capped = miner(ScriptedLLM(relations=llm.relations), max_relations=1).mine(SOURCE)
    assert capped.selection.selected == ("OCCASION",)  # 3 votes beat 2


def test_the_cap_breaks_equal_votes_by_the_place_a_sample_named_the_relation() -> None:
    # one greedy sample (LightPAIR): every relation has one vote, so its order in the answer decides
    llm = ScriptedLLM(relations=[["OCCASION", "USAGE_SCENARIO", "TARGET_AUDIENCE"]])
    capped = miner(llm, n_samples=1, max_relations=2).mine(SOURCE)
    # the first two named (schema order would have kept TARGET_AUDIENCE), listed in schema order
    assert capped.selection.selected == ("USAGE_SCENARIO", "OCCASION")


def test_selection_request_constrains_answer_to_r_s_with_at_least_one_item() -> None:
    llm = ScriptedLLM(relations=[[], [], []])
    result = miner(llm, n_samples=3, temperature=0.7, seed=11).mine(SOURCE)
    assert result.selection.selected == ()
    assert len(llm.requests) == 3  # nothing selected: no augmentation prompt
    schema = llm.requests[0].json_schema
    assert schema is not None
    items = schema["properties"]["relations"]
    assert items["minItems"] == 1
    assert items["items"]["enum"] == list(SCHEMA.candidate_ids("Item"))
    assert [r.sample_index for r in llm.requests] == [0, 1, 2]
    assert {(r.temperature, r.seed) for r in llm.requests} == {(0.7, 11)}


def test_without_relation_filter_every_candidate_is_expanded_without_a_selection_prompt() -> None:
    llm = ScriptedLLM()
    result = miner(llm, relation_filter=False).mine(SOURCE)
    assert result.selection.selected == SCHEMA.candidate_ids("Item")
    assert result.selection.prompt_id is None
    assert all("targets" in r.json_schema["properties"] for r in llm.requests)  # type: ignore[index]
    assert len(llm.requests) == 3 * 3 * len(SCHEMA.candidate_ids("Item"))


def entry(relation: object, *targets: object) -> dict[str, object]:
    return {"relation": relation, "targets": list(targets)}


def test_lightpair_asks_one_greedy_prompt_a_source_and_keeps_r_s_bounded() -> None:
    answer = [
        entry("OCCASION", "birthday", "christmas"),
        entry("MAKES_COFFEE", "espresso"),  # outside R_s: dropped and reported
        entry("Target Audience", "coffee lovers", "a sentence of far too many words to be a name"),
        entry("OCCASION", "birthday", "mother's day"),  # named twice: one relation, one vote
    ]
    llm = ScriptedLLM(relations=[answer])
    cfg = {**LIGHTPAIR_PASS, "agg_threshold": 0.3}
    result = miner(llm, miner="lightpair", adapter="v1", **cfg).mine(SOURCE)
    (request,) = llm.requests  # one request a source: no selection, no prompt per relation
    assert (request.temperature, request.sample_index) == (0.0, 0)
    entries = request.json_schema["properties"]["relations"]  # type: ignore[index]
    assert entries["minItems"] == 1 and entries["items"]["properties"]["relation"]["enum"] == list(
        SCHEMA.candidate_ids("Item")
    )
    assert entries["items"]["properties"]["targets"]["minItems"] == 1
    assert "list up to 5 targets" in request.messages[-1]["content"]
    assert result.selection.selected == ("TARGET_AUDIENCE", "OCCASION")  # schema order
    assert result.selection.dropped == ("MAKES_COFFEE",)
    assert result.selection.votes == {"OCCASION": 1, "TARGET_AUDIENCE": 1}
    audience, occasion = result.relations
    assert audience.counts.malformed == 1  # the sentence never votes
    assert set(occasion.aggregation.names) == {"birthday", "christmas", "mother's day"}
    pass_id = result.selection.prompt_id
    assert pass_id == prompt_id("source_pass", 1)
    assert {t.prompt_ids for t in result.targets} == {(pass_id,)}  # the one prompt, once
    assert {t.candidate.steps for t in result.targets} == {("source_pass",)}


def test_a_source_pass_cut_by_the_token_limit_keeps_its_whole_entries() -> None:
    whole = '{"relations": [{"relation": "OCCASION", "targets": ["birthday", "christmas"]}, '
    cut = whole + '{"relation": "GIFT_RECIPIENT", "targets": ["mo'
    assert parse_source_pass(cut) == [("OCCASION", ["birthday", "christmas"])]
    with pytest.raises(AnswerFormatError):
        parse_source_pass('{"relations": [{"relation": "OCCASION", "targets": ["bir')
    with pytest.raises(AnswerFormatError):  # an entry without its targets list
        parse_source_pass('{"relations": [{"relation": "OCCASION"}]}')
    llm = ScriptedLLM(relations=[cut])
    result = miner(llm, miner="lightpair", adapter="v1", **{**LIGHTPAIR_PASS, "agg_threshold": 0.3}).mine(
        SOURCE
    )
    assert result.selection.selected == ("OCCASION",) and result.selection.malformed == 0
    assert len(result.targets) == 2


def test_a_source_pass_of_n_samples_keeps_the_relations_a_majority_names_and_respects_the_cap() -> None:
    samples = [
        [entry("OCCASION", "birthday"), entry("GIFT_RECIPIENT", "mom")],
        [entry("GIFT_RECIPIENT", "dad"), entry("OCCASION", "birthday"), entry("TARGET_AUDIENCE", "students")],
        "not json at all",
    ]
    llm = ScriptedLLM(relations=samples)
    result = miner(llm, n_samples=3, source_pass=True, agg_threshold=0.5).mine(SOURCE)
    assert len(llm.requests) == 3 and llm.batches == [3]
    assert result.selection.selected == ("OCCASION", "GIFT_RECIPIENT")  # 2 of 3; TARGET_AUDIENCE 1 of 3
    assert result.selection.malformed == 1 and result.counts.malformed == 1  # the unreadable sample counts
    occasion, recipient = result.relations
    (birthday,) = occasion.aggregation.kept
    assert (birthday.name, birthday.votes, occasion.aggregation.n_samples) == ("birthday", 2, 3)
    assert sorted(f.candidate.name for f in recipient.aggregation.filtered) == [
        "dad",
        "mom",
    ]  # 1 vote of 3 each
    # equal votes under the cap: the relation a sample named first, though GIFT_RECIPIENT is last in the schema
    ties = [[entry("GIFT_RECIPIENT", "mom"), entry("OCCASION", "birthday")]] * 2 + ["not json at all"]
    capped = miner(ScriptedLLM(relations=ties), n_samples=3, source_pass=True, max_relations=1).mine(SOURCE)
    assert capped.selection.votes == {"GIFT_RECIPIENT": 2, "OCCASION": 2}
    assert capped.selection.selected == ("GIFT_RECIPIENT",)
    everything = miner(ScriptedLLM(relations=samples), n_samples=3, source_pass=True, relation_filter=False)
    assert everything.mine(SOURCE).selection.selected == SCHEMA.candidate_ids("Item")  # -Rf: all of R_s


def test_each_progressive_step_asks_for_every_relation_in_one_batch() -> None:
    llm = ScriptedLLM(relations=[["OCCASION", "TARGET_AUDIENCE"]] * 3)
    result = miner(llm, n_samples=3).mine(SOURCE)
    assert len(result.relations) == 2
    assert llm.batches == [3, 6, 6, 6]  # selection, then 3 steps × (2 relations × 3 samples)
    steps = [[llm.step_of(r) for r in llm.requests[a : a + 6]] for a in (3, 9, 15)]
    assert steps == [["domain"] * 6, ["domain_supkg"] * 6, ["domain_supkg_inherited"] * 6]


def test_restricted_relations_bound_r_s_and_a_single_candidate_needs_no_selection_prompt() -> None:
    llm = ScriptedLLM(relations=[["OCCASION", "USAGE_SCENARIO"]] * 3)
    two = miner(llm, relations=("OCCASION", "USAGE_SCENARIO", "SIMILAR_STORE")).mine(
        SOURCE
    )  # no Item store rel.
    schema = llm.requests[0].json_schema
    assert schema is not None and schema["properties"]["relations"]["items"]["enum"] == [
        "USAGE_SCENARIO",
        "OCCASION",
    ]
    assert two.selection.selected == ("USAGE_SCENARIO", "OCCASION")
    llm = ScriptedLLM()
    one = miner(llm, relations=("OCCASION",)).mine(SOURCE)
    assert one.selection.selected == ("OCCASION",) and one.selection.prompt_id is None
    assert len(llm.requests) == 9
    with pytest.raises(ValueError, match="unknown relations"):
        MiningConfig(relations=("MAKES_COFFEE",))


# -- progressive augmentation, votes, filtering ----------------------------------------------------------------
AUDIENCE_ONLY = [["TARGET_AUDIENCE"]] * 3


def test_progressive_steps_carry_the_right_knowledge_and_inherit_kept_targets() -> None:
    llm = ScriptedLLM(
        relations=AUDIENCE_ONLY,
        targets={
            "domain": [["coffee lovers", "students"], ["coffee lovers"], ["office workers"]],
            "domain_supkg": [["coffee lovers"], ["coffee lovers", "students"], ["tea drinkers"]],
            "domain_supkg_inherited": [["coffee lovers"], ["coffee lovers", "students"], ["coffee lovers"]],
        },
    )
    miner(llm, agg_threshold=0.3).mine(SOURCE)
    steps = [r for r in llm.requests if "targets" in r.json_schema["properties"]]  # type: ignore[index]
    assert len(steps) == 9
    users = [r.messages[-1]["content"] for r in steps]
    assert "Known facts" not in users[0] and "Sold by: Starbucks" in users[3]  # κ_D, then κ_D + κ_S
    assert "Domain knowledge" in users[0] and "Domain knowledge" in users[6]
    inherited = users[6].split("Targets already accepted for this relation:")[1]
    # steps 1-2: coffee lovers 5/6 (kept), students 2/6 = 0.33 (kept at 0.3), office workers 1/6 (not)
    assert "- coffee lovers" in inherited and "- students" in inherited and "office workers" not in inherited


def test_votes_are_counted_once_per_sample_and_filtered_by_threshold() -> None:
    llm = ScriptedLLM(
        relations=AUDIENCE_ONLY,
        targets={
            "domain": [["Coffee Lovers", "coffee lover"], ["coffee lovers"], ["students"]],
            "domain_supkg": [["coffee lovers"], ["students"], ["x" * 3 + " " + "word " * 8]],  # too long
            "domain_supkg_inherited": [
                ["coffee lovers"],
                ["coffee lovers", "TARGET_AUDIENCE"],
                ["Starbucks Gift Card"],
            ],
        },
    )
    result = miner(llm, agg_threshold=0.5).mine(SOURCE)
    (rel,) = result.relations
    by_name = {c.key: c for c in rel.aggregation.kept + tuple(f.candidate for f in rel.aggregation.filtered)}
    # "Coffee Lovers" and "coffee lover" in one sample vote once: 2/3 + 1/3 + 2/3 over three equal steps
    assert by_name["coffee lover"].votes == 5
    assert by_name["coffee lover"].vote_share == pytest.approx((2 / 3 + 1 / 3 + 2 / 3) / 3)
    assert by_name["student"].vote_share == pytest.approx((1 / 3 + 1 / 3) / 3)
    assert [t.candidate.key for t in result.targets] == ["coffee lover"]
    assert rel.counts == FilterCounts(  # malformed: the too long name and the echo of the relation id
        candidates=3,
        kept=1,
        malformed=2,
        filtered_votes=1,
        filtered_scorer=0,
        rescued_scorer=0,
        same_as_source=1,
    )


@pytest.mark.parametrize(
    ("name", "echo"),
    [
        ("TARGET_AUDIENCE", True),  # a relation id
        ("target audiences", True),  # its label, normalised
        ("Audience", True),  # an entity type
        ("Target Type Audience", True),  # several words, all the prompt's own
        ("related brand name", True),
        ("Target", False),  # one word may be a real name (a brand)
        ("gift box", False),  # "box" is not a schema word
        ("coffee lovers", False),
    ],
)
def test_echoes_of_the_prompt_are_recognised(name: str, echo: bool) -> None:
    assert miner(ScriptedLLM(relations=AUDIENCE_ONLY, targets={})).echoed(name) is echo


def test_scorer_vetoes_and_rescues_are_counted_and_recorded_as_provenance() -> None:
    llm = ScriptedLLM(
        relations=AUDIENCE_ONLY,
        targets={
            s: [["coffee lovers", "robots"], ["coffee lovers", "robots"], ["students"]]
            for s in ("domain", "domain_supkg", "domain_supkg_inherited")
        },
    )
    scorer = StubScorer({"coffee lovers": 0.9, "robots": 0.0, "students": 1.0})
    result = miner(llm, use_scorer=True, scorer=scorer, agg_weight=0.5, agg_threshold=0.6).mine(SOURCE)
    counts = result.counts
    # robots: votes 2/3 pass alone, score 0.33 does not -> vetoed; students: votes 1/3, score 0.67 -> rescued
    assert (counts.filtered_scorer, counts.rescued_scorer, counts.kept) == (1, 1, 2)
    names = sorted(t.candidate.name for t in result.targets)
    assert names == ["coffee lovers", "students"]
    props = {w.target_name: w.props for w in result.writes("run-1", "2026-01-01T00:00:00Z")}
    p = props["coffee lovers"]
    assert p["plausibility"] == pytest.approx(0.9) and p["scorer_plausibility"] == pytest.approx(0.9)
    assert p["score"] == pytest.approx(0.5 * 2 / 3 + 0.5 * 0.9)
    assert (p["votes"], p["model"], p["scorer"], p["run_id"], p["at"]) == (
        6,
        "scripted-llm",
        "stub-v1",
        "run-1",
        "2026-01-01T00:00:00Z",
    )
    selection_id = result.selection.prompt_id
    assert p["prompt_ids"][0] == selection_id and prompt_id("augment.domain", 1) in p["prompt_ids"]
    summary = result.summary()
    assert summary["pair_filtered_scorer"] == 1 and summary["pair_triples"] == 2
    assert summary["pair_llm_calls"] == 12 and summary["pair_completion_tokens"] == 120


def test_without_aggregation_the_first_samples_are_kept_and_without_progressive_one_step_runs() -> None:
    targets = {
        "domain": [["coffee lovers"], ["students"], ["students"]],
        "domain_supkg": [["tea drinkers"], ["students"], ["students"]],
        "domain_supkg_inherited": [["coffee lovers"], ["students"], ["students"]],
    }
    scorer = StubScorer({"coffee lovers": 0.9, "tea drinkers": 0.9, "students": 0.1})
    no_agg = miner(
        ScriptedLLM(relations=AUDIENCE_ONLY, targets=targets),
        aggregation=False,
        use_scorer=True,
        scorer=scorer,
    ).mine(SOURCE)
    assert sorted(t.candidate.name for t in no_agg.targets) == ["coffee lovers", "tea drinkers"]
    # students (2/3 of every step) is dropped: only first samples count; the plausibility decides nothing
    assert (no_agg.counts.filtered_votes, no_agg.counts.filtered_scorer, no_agg.counts.rescued_scorer) == (
        1,
        0,
        0,
    )
    llm = ScriptedLLM(relations=AUDIENCE_ONLY, targets=targets)
    single = miner(llm, progressive=False).mine(SOURCE)
    assert len(llm.requests) == 3 + 3  # selection + one step of n samples
    assert [t.candidate.name for t in single.targets] == ["students"]  # 2/3 of the one step's samples


# -- resolution ------------------------------------------------------------------------------------------------
def test_resolution_links_supkg_items_creates_new_entities_and_drops_self_links() -> None:
    def pools(target_type: str) -> list[PoolEntry]:
        assert target_type == "Product"
        return [
            PoolEntry("Item:B0OTHER", "Greeting Cards", "#9:2"),
            PoolEntry("Item:B0SOURCE", "Starbucks Card", "#1:1"),
        ]

    llm = ScriptedLLM(
        relations=[["COMPLEMENTARY_PRODUCT"]] * 3,
        targets={
            s: [["greeting card", "gift box", "Starbucks Card"]] * 3
            for s in ("domain", "domain_supkg", "domain_supkg_inherited")
        },
    )
    result = miner(llm, pools).mine(SOURCE)
    refs = {t.candidate.name: (t.ref, t.node_id, t.matched_by) for t in result.targets}
    assert refs["greeting card"] == ("Item:B0OTHER", "#9:2", MatchKind.NORMALIZED)
    assert refs["gift box"] == ("Product:gift-box", None, MatchKind.NEW)
    assert "Starbucks Card" not in refs  # resolves to the source item itself
    assert result.counts.merged == 1
    writes = result.writes("r", "t")
    assert {(w.relation, w.target_ref, w.node_id) for w in writes} == {
        ("COMPLEMENTARY_PRODUCT", "Item:B0OTHER", "#9:2"),
        ("COMPLEMENTARY_PRODUCT", "Product:gift-box", None),
    }


def test_type_fit_is_a_softmax_over_type_descriptions_summed_over_compatible_types() -> None:
    types = list(SCHEMA.entity_types)

    # prototypes: one-hot per type; a name vector with cosine 0.5 to Brand and 0.5 to Store
    def embed(texts: Sequence[str]) -> np.ndarray:
        return (
            np.eye(len(types))[: len(texts)]
            if len(texts) == len(types)
            else np.zeros((len(texts), len(types)))
        )

    fit = TypeFit(SCHEMA, embed, temperature=0.5)
    name = np.zeros((1, len(types)))
    name[0, types.index("Brand")] = name[0, types.index("Store")] = 0.5
    logits = name[0] / 0.5
    probs = np.exp(logits) / np.exp(logits).sum()
    expected_brand = probs[types.index("Brand")] + probs[types.index("Store")]
    assert fit(["Acme"], name, "Brand")[0] == pytest.approx(expected_brand)
    assert fit(["Acme"], name, "Audience")[0] == pytest.approx(probs[types.index("Audience")])


def test_well_formed_names() -> None:
    assert well_formed("coffee lovers", 6)
    assert not well_formed("one two three four five six seven", 6)
    assert not well_formed("!!!", 6)
    assert not well_formed("", 6)


def every_step(answers: list[Any]) -> dict[str, list[Any]]:
    return dict.fromkeys(("domain", "domain_supkg", "domain_supkg_inherited"), answers)


def test_a_name_of_few_but_endless_words_is_malformed() -> None:
    assert well_formed("x" * MAX_NAME_CHARS, 6)
    assert not well_formed("x" * (MAX_NAME_CHARS + 1), 6)
    assert not well_formed("A" * 5000, 6) and not well_formed("ab " * 21, 30)
    # and a sample that gives one counts it malformed, never as a vote
    llm = ScriptedLLM(relations=[["OCCASION"]] * 3, targets=every_step([["birthday", "B" * 300]] * 3))
    (occasion,) = miner(llm, progressive=False, relations=("OCCASION",)).mine(SOURCE).relations
    assert occasion.counts.malformed == 3 and occasion.aggregation.names == ["birthday"]


DEEP = '{"targets": ' + "[" * 5000 + "]" * 5000 + "}"


def test_an_answer_nested_past_the_parsers_stack_is_a_malformed_sample() -> None:
    with pytest.raises(AnswerFormatError):
        parse_source_pass('{"relations": ' + "[" * 5000)
    with pytest.raises(AnswerFormatError):
        parse_string_list(DEEP, "targets")
    llm = ScriptedLLM(relations=[["OCCASION"]] * 3, targets=every_step([["birthday"], DEEP, ["birthday"]]))
    (occasion,) = miner(llm, progressive=False, relations=("OCCASION",)).mine(SOURCE).relations
    assert occasion.counts.malformed == 1 and occasion.aggregation.names == ["birthday"]


def test_embed_cache_embeds_each_text_once() -> None:
    seen: list[str] = []

    def embed(texts: Sequence[str]) -> np.ndarray:
        seen.extend(texts)
        return word_embed(texts)

    cache = EmbedCache(embed)
    first = cache(["a b", "c"])
    again = cache(["c", "a b", "d"])
    assert seen == ["a b", "c", "d"]
    np.testing.assert_allclose(again[1], first[0])


# -- configuration, keys and facts ------------------------------------------------------------------------------
def test_mining_config_round_trips_and_rejects_unknown_keys() -> None:
    config = MiningConfig(n_samples=5, relation_filter=False, scorer_version="v1", relations=("OCCASION",))
    assert MiningConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown mining settings"):
        MiningConfig.from_dict({"n_sample": 3})
    with pytest.raises(ValueError):
        MiningConfig(agg_threshold=1.5)


def test_source_refs() -> None:
    ref = SourceRef.parse("Category:Gift Cards > Gift Cards")
    assert (ref.type, ref.id, str(ref)) == (
        "Category",
        "Gift Cards > Gift Cards",
        "Category:Gift Cards > Gift Cards",
    )
    with pytest.raises(ValueError):
        SourceRef.parse("B001GXRQW0")
    with pytest.raises(ValueError):
        SourceRef.parse("User:abc")


def test_hold_out_is_symmetric_stable_and_near_its_share() -> None:
    assert is_held_out("a", "b", 0.3) == is_held_out("b", "a", 0.3)
    assert not is_held_out("a", "b", 0.0)
    share = np.mean([is_held_out(f"i{k}", f"j{k}", 0.3) for k in range(4000)])
    assert 0.27 < share < 0.33


def test_item_facts_hide_held_out_links_in_both_link_kinds() -> None:
    row = {
        "stores": ["Starbucks"],
        "categories": ["Gift Cards > Gift Cards"],
        "description": "A  card\nfor coffee.",
        "ratings": [5.0, 4.0],
        "also_bought": [{"asin": f"B{k}", "title": f"Bought {k}"} for k in range(40)],
        "also_viewed": [{"asin": f"B{k}", "title": f"Viewed {k}"} for k in range(40)],
    }
    hidden = {f"B{k}" for k in range(40) if is_held_out("B0", f"B{k}", 0.5)}
    facts = store._item_facts(row, "B0", 0.5)
    assert facts[:4] == [
        "Sold by: Starbucks",
        "Category: Gift Cards > Gift Cards",
        "Description: A card for coffee.",
        "Average rating 4.5 of 5 from 2 reviews",
    ]
    shown = {f.rsplit(" ", 1)[1] for f in facts[4:]}
    assert shown and not shown & {h[1:] for h in hidden}
    assert (
        len([f for f in facts if "also bought" in f]) == 5 and len([f for f in facts if "viewed" in f]) == 3
    )


def test_every_mining_relation_has_a_merge_branch() -> None:
    assert store.writable_relations() == frozenset(SCHEMA.relations)


def test_write_triples_refuses_a_relation_without_a_branch() -> None:
    bad = store.TripleWrite("MAKES_COFFEE", "Audience:x", "x", "Audience", None, {"at": "t", "run_id": "r"})
    with pytest.raises(ValueError, match="MAKES_COFFEE"):
        store.write_triples(None, SOURCE, [bad])  # type: ignore[arg-type]


def test_celery_app_and_tasks_are_configured_for_at_least_once_delivery() -> None:
    from mokg.apps.workers.app import make_app
    from mokg.apps.workers.tasks import mine_entity
    from mokg.config import get_settings
    from mokg.pair.runs import BeatSchedule
    from mokg.pair.runtime import TRANSIENT_ERRORS

    app = make_app(get_settings(), visibility_timeout_s=42, beat=BeatSchedule(interval_s=60, limit=7))
    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.worker_prefetch_multiplier == 1
    assert (conf.task_serializer, list(conf.accept_content)) == ("json", ["json"])
    assert conf.broker_transport_options["visibility_timeout"] == 42
    beat = conf.beat_schedule["pair-continuous"]
    assert (beat["task"], beat["schedule"], beat["kwargs"]["limit"]) == ("workers.tasks.enqueue_batch", 60, 7)
    assert mine_entity.acks_late and mine_entity.max_retries == 4 and mine_entity.retry_backoff
    assert tuple(mine_entity.autoretry_for) == TRANSIENT_ERRORS
