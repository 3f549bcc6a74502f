"""The continuous mode's schedule: BeatSchedule's JSON, its validation, and the `mokg worker` options."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from mokg.apps.cli import main
from mokg.config import Settings
from mokg.pair.prompts import SOURCE_PASS_ID
from mokg.pair.runs import BeatSchedule
from mokg.pair.store import SOURCE_TYPES


def test_empty_text_gives_the_defaults() -> None:
    for text in ("", "  \n"):
        beat = BeatSchedule.from_json(text)
        assert (beat.interval_s, beat.limit, beat.redo_after_days, beat.stale_after_s) == (300, 100, 30, 7200)
        assert beat.types == SOURCE_TYPES == ("Item", "Category", "Store") and beat.config == {}


def test_round_trip_keeps_every_field() -> None:
    beat = BeatSchedule(
        interval_s=2.5,
        limit=10,
        types=("Item",),
        redo_after_days=0.0,
        stale_after_s=60.0,
        config={"n_samples": 1, "relations": ("COMPLEMENTARY_PRODUCT",), "use_scorer": False},
    )
    assert beat.config["relations"] == ["COMPLEMENTARY_PRODUCT"]  # normalised to the JSON form
    again = BeatSchedule.from_json(beat.to_json())
    assert again == beat and again.types == ("Item",)
    assert BeatSchedule.from_json('{"limit": 7}') == BeatSchedule(limit=7)  # missing fields: defaults
    assert beat.task_kwargs() == {
        "limit": 10,
        "types": ["Item"],
        "redo_after_days": 0.0,
        "stale_after_s": 60.0,
        "config": {"n_samples": 1, "relations": ["COMPLEMENTARY_PRODUCT"], "use_scorer": False},
    }


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"interval_s": 0.5}', "interval_s"),
        ('{"interval_s": "often"}', "interval_s"),
        ('{"limit": 0}', "limit"),
        ('{"limit": 2.5}', "limit"),
        ('{"limit": true}', "limit"),
        ('{"redo_after_days": -1}', "redo_after_days"),
        ('{"stale_after_s": 0}', "stale_after_s"),
        ('{"types": ["Item", "User"]}', "types"),
        ('{"types": []}', "types"),
        ('{"types": "Item"}', "types"),
        ('{"config": {"n_sample": 1}}', "config"),
        ('{"config": {"n_samples": 0}}', "config"),
        ('{"config": {"relations": ["MAKES_COFFEE"]}}', "config"),
        ('{"config": []}', "config"),
        ('{"every": 5}', "every"),
        ("[1, 2]", "JSON object"),
        ("{limit: 5}", "not JSON"),
    ],
)
def test_invalid_schedules_name_the_field(text: str, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        BeatSchedule.from_json(text)


def test_the_celery_app_takes_its_schedule_from_the_setting() -> None:
    from mokg.apps.workers.app import make_app

    app = make_app(Settings(pair_beat='{"limit": 5, "interval_s": 60, "types": ["Store"]}'))
    entry = app.conf.beat_schedule["pair-continuous"]
    assert entry["schedule"] == 60 and entry["kwargs"]["limit"] == 5 and entry["kwargs"]["types"] == ["Store"]
    with pytest.raises(ValueError, match="beat schedule limit"):  # a worker with a bad schedule never starts
        make_app(Settings(pair_beat='{"limit": 0}'))


class Exec(Exception):
    """Raised by the stand-in for os.execv: the command stops where it would become Celery."""


@pytest.fixture
def no_exec(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []

    def execv(path: str, argv: list[str]) -> None:
        calls.append(argv)
        raise Exec

    monkeypatch.setattr(os, "execv", execv)
    monkeypatch.setenv("MOKG_PAIR_BEAT", "")  # restored afterwards: the command writes it
    return calls


def test_beat_options_become_the_workers_schedule(no_exec: list[list[str]]) -> None:
    args = ["--beat", "--interval", "2", "--type", "Item", "--n-samples", "1", "--no-scorer", "-Q", "pair"]
    result = CliRunner().invoke(main, ["worker", *args])
    assert isinstance(result.exception, Exec), result.output
    (argv,) = no_exec
    assert argv[argv.index("worker") + 1 :] == [
        "--concurrency=1",
        "--pool=solo",
        "--loglevel=info",
        "--beat",
        "-Q",
        "pair",
    ]
    beat = BeatSchedule.from_json(os.environ["MOKG_PAIR_BEAT"])
    assert beat == BeatSchedule(interval_s=2, types=("Item",), config={"n_samples": 1, "use_scorer": False})


@pytest.mark.parametrize("args", [["--interval", "5"], ["--type", "Item"], ["--n-samples", "1"]])
def test_schedule_options_without_beat_are_refused(args: list[str], no_exec: list[list[str]]) -> None:
    result = CliRunner().invoke(main, ["worker", *args])
    assert result.exit_code == 2 and not no_exec  # refused before the exec into Celery
    assert f"{args[0]} goes with --beat" in result.output


def test_an_invalid_mining_option_of_the_beat_is_refused(no_exec: list[list[str]]) -> None:
    result = CliRunner().invoke(main, ["worker", "--beat", "--relation", "MAKES_COFFEE"])
    assert result.exit_code == 2 and not no_exec
    assert "beat schedule config" in result.output and "MAKES_COFFEE" in result.output


def test_train_glom_has_a_queue_of_its_own_and_a_plain_worker_consumes_only_pair() -> None:
    from mokg.apps.workers.app import make_app

    app = make_app(Settings())
    route = app.amqp.router.route
    assert route({}, "workers.tasks.train_glom", args=(), kwargs={})["queue"].name == "train"
    for task in ("workers.tasks.mine_entity", "workers.tasks.enqueue_batch"):
        assert route({}, task, args=(), kwargs={})["queue"].name == "pair"
    assert list(app.amqp.queues.consume_from) == ["pair"]  # what a worker without -Q consumes


@pytest.mark.parametrize(("given", "passed"), [("train", "train"), ("pair, train", "pair,train")])
def test_the_worker_consumes_the_queues_given(given: str, passed: str, no_exec: list[list[str]]) -> None:
    result = CliRunner().invoke(main, ["worker", "--queues", given])
    assert isinstance(result.exception, Exec), result.output
    (argv,) = no_exec
    assert argv[argv.index("-Q") + 1] == passed


def test_a_worker_without_queues_passes_none_to_celery(no_exec: list[list[str]]) -> None:
    CliRunner().invoke(main, ["worker"])
    (argv,) = no_exec
    assert "-Q" not in argv


@pytest.mark.parametrize("given", ["trian", "", ","])
def test_an_unknown_queue_is_refused(given: str, no_exec: list[list[str]]) -> None:
    result = CliRunner().invoke(main, ["worker", "--queues", given])
    assert result.exit_code == 2 and not no_exec
    assert "pair, train" in result.output


# -- which miner a run uses ------------------------------------------------------------------------------------
def test_a_lightpair_run_takes_the_one_pass_and_the_newest_adapter(tmp_path: Path) -> None:
    from mokg.artifacts import LATEST, point
    from mokg.pair.config import MiningConfig
    from mokg.pair.lightpair import ARTIFACT, lightpair_root
    from mokg.pair.runs import default_config

    settings = Settings(home=tmp_path)
    with pytest.raises(ValueError, match="no LightPAIR adapter yet"):
        default_config(settings, miner="lightpair")
    root = lightpair_root(settings.home)
    (root / "abc123").mkdir(parents=True)
    trained_on = {"template": "source_pass", "id": SOURCE_PASS_ID}
    (root / "abc123" / ARTIFACT).write_text(json.dumps({"data": {"prompt": trained_on}}))
    point(root, LATEST, "abc123")

    config = default_config(settings, miner="lightpair", max_tokens=48)
    assert (config.miner, config.adapter, config.max_tokens) == ("lightpair", "abc123", 48)
    # one greedy source pass: the relations and their targets in one answer, R_s still bounding them
    assert (config.n_samples, config.temperature, config.source_pass, config.relation_filter) == (
        1,
        0.0,
        True,
        True,
    )
    # an adapter trained on the per-relation records that came before would be asked a prompt it never saw
    (root / "old000").mkdir()
    (root / "old000" / ARTIFACT).write_text('{"data": {"run_id": null}}')
    with pytest.raises(ValueError, match="trained on per-relation records"):
        default_config(settings, miner="lightpair", adapter="old000")
    (root / "old001").mkdir()  # the source pass of an older wording
    (root / "old001" / ARTIFACT).write_text(json.dumps({"data": {"prompt": {**trained_on, "id": "0" * 16}}}))
    with pytest.raises(ValueError, match="not on the 'source_pass' prompt"):
        default_config(settings, miner="lightpair", adapter="old001")
    with pytest.raises(ValueError, match="one prompt a source"):  # a LightPAIR config never mines PAIR's way
        MiningConfig(miner="lightpair", adapter="abc123", source_pass=False)
    assert (
        default_config(settings, miner="lightpair", n_samples=3, adapter="old999").n_samples == 3
    )  # asked: kept
    assert default_config(settings, miner="lightpair", adapter="old999").adapter == "old999"
    assert default_config(settings, miner="lightpair", adapter="").adapter == "abc123"  # "": the newest
    assert default_config(settings).miner == "pair" and default_config(settings).n_samples == 3
    with pytest.raises(ValueError, match="names its adapter version, and only a LightPAIR run does"):
        MiningConfig(adapter="abc123")
    with pytest.raises(ValueError, match="miner 'gpt'"):
        MiningConfig(miner="gpt")
    # the beat's schedule validates a LightPAIR config before any adapter exists (each batch takes the newest)
    assert BeatSchedule(config={"miner": "lightpair"}).config == {"miner": "lightpair"}
    with pytest.raises(ValueError, match="config"):
        BeatSchedule(config={"miner": "lightpair", "n_samples": 0})
