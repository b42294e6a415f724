"""QMIX: a monotonic mixing network over the echelons' Q-values, trained on the team reward.

    python -m algorithms.qmix --num-envs 16
    python -m algorithms.qmix --mixer-embed-dim 64 --target-update-period 1000

The mixing weights come from hypernetworks on ``env.global_state`` (every
echelon's observation and both pipelines) and pass through ``abs``, so
``Q_tot`` never decreases when one ``Q_i`` grows and each echelon's greedy
action stays greedy for the team. The value-based core of
``algorithms/value_based.py`` with ``mixer = "qmix"``.
"""

from algorithms.value_based import make_learner, variant

__all__ = ["NAME", "Config", "make_learner", "make_train", "main"]
NAME, Config, make_train, main = variant("qmix", mixer="qmix", doc=__doc__)

if __name__ == "__main__":
    main()
