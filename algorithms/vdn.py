"""VDN: value decomposition, ``Q_tot = sum_i Q_i``, trained on the team reward.

    python -m algorithms.vdn --num-envs 16
    python -m algorithms.vdn --agents vdn,vdn,base_stock,base_stock

Each echelon still acts greedily on its own ``Q_i``; only the regression
target is shared. The value-based core of ``algorithms/value_based.py`` with
``mixer = "vdn"``.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from algorithms import value_based


@dataclasses.dataclass
class Config(value_based.ValueBasedConfig):
    """VDN on the beer game: the sum of the echelons' Q-values regressed on the team reward."""

    learner_kind: ClassVar[str] = "vdn"
    mixer: ClassVar[str] = "vdn"


make_learner = value_based.make_learner
make_train = value_based.make_train
main = value_based.entry_point(Config, "vdn")

if __name__ == "__main__":
    main()
