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
import sys
from pathlib import Path

import jax

from algorithms.common import checkpoint
from algorithms.common.config import ConfigError, check_int_flag, exit_with_usage_error, parse_flags
from algorithms.common.files import write_json


@dataclasses.dataclass
class Args:
    """Flags of ``python -m algorithms.evaluate``."""

    run: str
    """Run directory (holds config.json and its checkpoints)."""
    episodes: int = 1000
    """Fresh evaluation episodes."""
    seed: int = 2024
    """Seed of the evaluation episodes (different from the run's chunk evaluations by default)."""
    json_out: str = ""
    """Also write the table as JSON here."""

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the flag and what it needs."""
        check_int_flag("episodes", self.episodes, 1)
        check_int_flag("seed", self.seed, 0)
        run = Path(self.run)
        if not (run / "config.json").is_file() or not checkpoint.saved_checkpoints(run):
            raise ConfigError(f"--run: {self.run!r} is not a run directory with config.json and a checkpoint")


def main(argv: list[str] | None = None) -> list[dict]:
    """Print (and with ``--json-out`` write) the run's cost table; exit 2 with one line on bad input."""
    args = parse_flags(Args, list(sys.argv[1:] if argv is None else argv), __doc__.splitlines()[0])
    try:
        args.validate()
        from algorithms.registry import load_run  # imports every learner: after the cheap checks

        saved, config, learner, state = load_run(args.run)
    except (ConfigError, checkpoint.CheckpointError) as error:
        exit_with_usage_error(str(error))

    from algorithms.common import evaluation
    from algorithms.common.loop import best_policy_rows

    game = learner.game
    policy_params = jax.vmap(learner.policy_params)(state)
    key = jax.random.PRNGKey(args.seed)
    rows = evaluation.cost_table(game, learner.act, policy_params, key, args.episodes, num_seeds=config.num_seeds)
    rows[config.num_seeds : config.num_seeds] = best_policy_rows(args.run, learner, config, key, args.episodes)
    print(
        f"{saved['algorithm']} on {config.scenario}, team {','.join(game.team.kinds)}, "
        f"base-stock levels {game.team.base_stock_levels}, {args.episodes} episodes (seed {args.seed})"
    )
    print(evaluation.format_table(rows))
    if args.json_out:
        write_json(args.json_out, {"run": args.run, "episodes": args.episodes, "seed": args.seed, "rows": rows})
    return rows


if __name__ == "__main__":
    main()
