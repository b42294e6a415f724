"""QMIX: a monotonic mixing network over the echelons' Q-values, trained on the team reward.

    python -m algorithms.qmix --num-envs 16
    python -m algorithms.qmix --mixer-embed-dim 64 --target-update-period 1000

The mixing weights come from hypernetworks on ``env.global_state`` (every
echelon's observation and both pipelines) and pass through ``abs``, so
``Q_tot`` never decreases when one ``Q_i`` grows and each echelon's greedy
action stays greedy for the team. The value-based core of
``algorithms/value_based.py`` with ``mixer = "qmix"``.
"""

from algorithms import value_based

NAME = "qmix"
Config, main = value_based.variant(
    NAME, mixer="qmix", doc="QMIX on the beer game: a state-conditioned monotonic mixer of the echelons' Q-values."
)
make_learner, make_train = value_based.make_learner, value_based.make_train

if __name__ == "__main__":
    main()
