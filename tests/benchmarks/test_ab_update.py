"""benchmarks.ab_update: the earlier ippo.py and its networks import beside today's, and bad flags stop before
compiling."""

from __future__ import annotations

import pytest

from algorithms import ippo
from benchmarks import ab_update


def test_the_earlier_revision_imports_beside_todays_module():
    before = ab_update.earlier_ippo("HEAD")
    assert before.__name__ == "ippo_before" and before is not ippo
    assert before.Config.learner_kind == ippo.Config.learner_kind == "ppo"
    # The earlier ippo runs on the earlier networks, not on today's.
    assert before.PolicyHead is not ippo.PolicyHead and before.PolicyHead.__module__ == "networks_before"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--pairs", "0"], "--pairs must be an integer >= 1, got 0"),
        (["--algorithm", "qmix"], "--algorithm must be one of ['ippo', 'mappo']"),
        (["--num-envs", "40"], "--num-envs must be a multiple of 16"),
    ],
)
def test_bad_flags_exit_2_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        ab_update.main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_an_unknown_revision_is_named():
    with pytest.raises(ab_update.ConfigError, match="--before 'no-such-rev'"):
        ab_update.earlier_ippo("no-such-rev")
