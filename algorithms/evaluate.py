"""Reload a run's checkpoint and print its cost table against the heuristic teams.

    python -m algorithms.evaluate --run runs/ippo-basic-20260101-120000
    python -m algorithms.evaluate --run DIR --episodes 1000 --seed 7

The learned team (greedy, every seed of the run; also the policy of the
chunk with the best chunk-evaluation cost when that is not the last) and base-stock (the run's
optimised levels), Sterman and pass-through teams play the same fresh
episodes of the run's scenario. For a mixed team the learner seats are also
filled with each heuristic beside the same co-players.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import jax

from algorithms.common.config import ConfigError, check_int, exit_with_usage_error, parse_flags


@dataclasses.dataclass
class Args:
    run: str
    """Run directory (holds config.json and checkpoint.msgpack)."""
    episodes: int = 1000
    """Fresh evaluation episodes."""
    seed: int = 2024
    """Seed of the evaluation episodes (different from the run's chunk evaluations by default)."""
    json_out: str = ""
    """Also write the table as JSON here."""

    def validate(self) -> None:
        check_int("episodes", self.episodes, 1)
        check_int("seed", self.seed, 0)
        run = Path(self.run)
        if not (run / "config.json").is_file() or not (run / "checkpoint.msgpack").is_file():
            raise ConfigError(f"--run: {self.run!r} is not a run directory with config.json and checkpoint.msgpack")


def main(argv=None) -> list[dict]:
    args = parse_flags(Args, list(sys.argv[1:] if argv is None else argv), __doc__.splitlines()[0])
    try:
        args.validate()
    except ConfigError as error:
        exit_with_usage_error(str(error))

    from algorithms.common import evaluation
    from algorithms.common.loop import best_policy_rows, load_run

    saved, config, learner, state = load_run(args.run)
    game = learner.game
    policy_params = jax.vmap(learner.policy_params)(state)
    key = jax.random.PRNGKey(args.seed)
    rows = evaluation.cost_table(
        game.env, game.params, game.team, learner.act, policy_params, key, args.episodes, num_seeds=config.num_seeds
    )
    rows[config.num_seeds : config.num_seeds] = best_policy_rows(args.run, learner, config, key, args.episodes)
    print(
        f"{saved['algorithm']} on {config.scenario}, team {','.join(game.team.kinds)}, "
        f"base-stock levels {game.team.base_stock_levels}, {args.episodes} episodes (seed {args.seed})"
    )
    print(evaluation.format_table(rows))
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps({"run": args.run, "episodes": args.episodes, "seed": args.seed, "rows": rows}, indent=1)
        )
    return rows


if __name__ == "__main__":
    main()
