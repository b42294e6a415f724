"""VDN: value decomposition, ``Q_tot = sum_i Q_i``, trained on the team reward.

    python -m algorithms.vdn --num-envs 16
    python -m algorithms.vdn --agents vdn,vdn,base_stock,base_stock

Each echelon still acts greedily on its own ``Q_i``; only the regression
target is shared. The value-based core of ``algorithms/value_based.py`` with
``mixer = "vdn"``.
"""

from algorithms.value_based import make_learner, variant

__all__ = ["NAME", "Config", "make_learner", "make_train", "main"]
NAME, Config, make_train, main = variant("vdn", mixer="vdn", doc=__doc__)

if __name__ == "__main__":
    main()
