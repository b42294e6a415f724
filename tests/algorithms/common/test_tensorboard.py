"""--tensorboard: log records mirrored as TensorBoard scalars, read back from the event files."""

from __future__ import annotations

import dataclasses
import json
import math
import struct
import sys
from pathlib import Path
from typing import ClassVar

import jax.numpy as jnp
import pytest

from algorithms.common import tensorboard
from algorithms.common.config import CommonConfig, parse_config
from algorithms.common.game import make_game
from algorithms.common.loop import Learner, run

SummaryWriter = pytest.importorskip("tensorboardX").SummaryWriter
event_pb2 = pytest.importorskip("tensorboardX.proto.event_pb2")


@dataclasses.dataclass
class _Config(CommonConfig):
    learner_kind: ClassVar[str] = "ppo"


def read_events(directory: Path) -> list[event_pb2.Event]:
    """Every event of the directory's event files, in TensorBoard's reading order (file name, then offset)."""
    events = []
    for path in sorted(directory.glob("events.out.tfevents.*")):
        data, offset = path.read_bytes(), 0
        while offset < len(data):
            # A TFRecord: uint64 length, its masked CRC32C, the bytes, their masked CRC32C.
            (length,) = struct.unpack_from("<Q", data, offset)
            events.append(event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length]))
            offset += 12 + length + 4
    return events


def read_scalars(directory: Path) -> list[tuple[str, int, float]]:
    """(tag, step, value) of every scalar written to ``directory``, in order."""
    return [(v.tag, e.step, v.simple_value) for e in read_events(directory) for v in e.summary.value]


def test_write_record_writes_numbers_and_lists_at_the_env_steps(tmp_path):
    record = {
        "chunk": 2,
        "env_steps": 64,
        "eval_team_cost": 612.5,
        "eval_team_cost_per_seed": [600.0, 625.0],
        "eval_agent_cost": [[1.5, 2.5], [3.5, None]],
        "episode_team_cost": None,
        "loss": float("nan"),
        "stopped": "non-finite ['loss']",
        "flag": True,
    }
    with SummaryWriter(str(tmp_path)) as writer:
        tensorboard.write_record(writer, record)
    scalars = read_scalars(tmp_path)
    assert {step for _, step, _ in scalars} == {64}
    values = {tag: value for tag, _, value in scalars}
    assert math.isnan(values.pop("loss"))
    assert values == {
        "chunk": 2.0,
        "env_steps": 64.0,
        "eval_team_cost": 612.5,
        "eval_team_cost_per_seed/0": 600.0,
        "eval_team_cost_per_seed/1": 625.0,
        "eval_agent_cost/0/0": 1.5,
        "eval_agent_cost/0/1": 2.5,
        "eval_agent_cost/1/0": 3.5,
    }


def test_a_record_without_env_steps_is_written_at_its_chunk(tmp_path):
    with SummaryWriter(str(tmp_path)) as writer:
        tensorboard.write_record(writer, {"chunk": 3, "loss": 0.25})
    assert read_scalars(tmp_path) == [("chunk", 3, 3.0), ("loss", 3, 0.25)]


def test_mirror_opens_at_the_first_record_and_purges_from_its_step(tmp_path):
    directory = tmp_path / "tensorboard"
    with tensorboard.Mirror(directory) as mirror:
        assert not directory.exists()
        mirror.write({"chunk": 2, "env_steps": 20, "x": 1.0})
        mirror.write({"chunk": 3, "env_steps": 30, "x": 2.0})
    mirror.close()  # closing twice is harmless
    starts = [e.step for e in read_events(directory) if e.session_log.status == event_pb2.SessionLog.START]
    assert starts == [20]
    assert [(tag, step, value) for tag, step, value in read_scalars(directory) if tag == "x"] == [
        ("x", 20, 1.0),
        ("x", 30, 2.0),
    ]


def test_mirrors_opened_within_one_second_write_separate_files(tmp_path):
    for chunk in (1, 2):  # tensorboardX alone would give both the same file name, and the second would win
        with tensorboard.Mirror(tmp_path) as mirror:
            mirror.write({"chunk": chunk, "x": float(chunk)})
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 2
    assert read_scalars(tmp_path) == [("chunk", 1, 1.0), ("x", 1, 1.0), ("chunk", 2, 2.0), ("x", 2, 2.0)]


def test_the_flag_parses(tmp_path):
    assert parse_config(_Config, ["--tensorboard"]).tensorboard is True
    assert parse_config(_Config, []).tensorboard is False


def test_missing_tensorboardx_is_a_one_line_usage_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # makes ``import tensorboardX`` fail
    assert parse_config(_Config, []).tensorboard is False  # no flag, no tensorboardX needed
    with pytest.raises(SystemExit) as stop:
        parse_config(_Config, ["--tensorboard"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: --tensorboard needs tensorboardX: pip install -e '.[tensorboard]'\n"


def test_a_config_json_written_before_the_flag_still_resumes(tmp_path):
    saved = _Config(num_envs=16).to_json()
    del saved["tensorboard"]
    (tmp_path / "config.json").write_text(json.dumps({"algorithm": "x", "config": saved}))
    config = parse_config(_Config, ["--resume", str(tmp_path)])
    assert config.num_envs == 16 and config.tensorboard is False


def test_host_loop_mirrors_log_jsonl_and_a_resume_appends(tmp_path, learner_env):
    config = _Config(
        num_envs=2,
        eval_episodes=4,
        base_stock_episodes=2,
        run_dir=str(tmp_path),
        num_chunks=3,
        progress=False,
        plots=False,
        tensorboard=True,
        stop_after_chunks=2,
    )
    learner = Learner(  # a fake learner: the loop's logging is under test, not learning
        game=make_game(config),
        init=lambda key, hyperparameters=None: {"count": jnp.int32(0), "w": jnp.zeros(2)},
        update=lambda s: ({"count": s["count"] + 1, "w": s["w"]}, {"loss": 1.0 / (s["count"] + 1)}),
        act=lambda p, obs, key: jnp.zeros(obs.shape[0], jnp.int32),
        policy_params=lambda s: s["w"],
        num_updates=3,
        env_steps_per_update=5,
    )
    run(config, learner, "fake")
    # As if killed after chunk 2's log line but before its checkpoint: the resume replays chunk 2.
    (tmp_path / "checkpoint-0002.msgpack").unlink()
    run(dataclasses.replace(config, resume=str(tmp_path), stop_after_chunks=0), learner, "fake")

    directory = tmp_path / tensorboard.DIRECTORY
    assert len(list(directory.glob("events.out.tfevents.*"))) == 2
    starts = [e.step for e in read_events(directory) if e.session_log.status == event_pb2.SessionLog.START]
    assert starts == [5, 10]  # the resume's file hides the first file's chunk 2 from TensorBoard
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["env_steps"] for r in log] == [5, 10, 15]
    costs = [(step, value) for tag, step, value in read_scalars(directory) if tag == "eval_team_cost"]
    expected = [log[0], log[1], log[1], log[2]]  # the replayed chunk 2 equals the first one bit for bit
    assert [step for step, _ in costs] == [r["env_steps"] for r in expected]
    assert [value for _, value in costs] == pytest.approx([r["eval_team_cost"] for r in expected], rel=1e-6)
