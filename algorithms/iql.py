"""IQL: independent double DQN for every learning echelon of the beer game.

    python -m algorithms.iql --num-envs 16
    python -m algorithms.iql --agents iql,base_stock,base_stock,base_stock
    python -m algorithms.iql --no-team-reward --n-step 3

Each echelon regresses its own Q-values on the reward the env gives it: the
team cost by default, its own echelon's cost with ``--no-team-reward``. No
mixer: the value-based core of ``algorithms/value_based.py`` with
``mixer = "none"``.
"""

from algorithms.value_based import make_learner, variant

__all__ = ["NAME", "Config", "make_learner", "make_train", "main"]
NAME, Config, make_train, main = variant("iql", mixer="none", doc=__doc__)

if __name__ == "__main__":
    main()
