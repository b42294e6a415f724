"""VDN: value decomposition, ``Q_tot = sum_i Q_i``, trained on the team reward.

    python -m algorithms.vdn --num-envs 16
    python -m algorithms.vdn --agents vdn,vdn,base_stock,base_stock

Each echelon still acts greedily on its own ``Q_i``; only the regression
target is shared. The value-based core of ``algorithms/value_based.py`` with
``mixer = "vdn"``.
"""

from algorithms import value_based

NAME = "vdn"
Config, main = value_based.variant(
    NAME, mixer="vdn", doc="VDN on the beer game: the sum of the echelons' Q-values regressed on the team reward."
)
make_learner, make_train = value_based.make_learner, value_based.make_train

if __name__ == "__main__":
    main()
