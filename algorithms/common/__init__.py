"""Pieces every learner shares, written once; ``loop.Learner`` is the contract a learner fills in.

config      CommonConfig, tyro CLI parsing, one-line usage errors (exit 2)
team        env from the config, mixed teams (learners + heuristics), vectorised step, base-stock reference cache
networks    flax MLP heads (policy, value, Q), shared or per-echelon parameters, agent-id one-hot, symlog
gae         advantages that bootstrap truncated episodes from final_obs and stop only at termination
rollout     shuffled minibatches of whole games for the PPO epochs
replay      the value-based learners' replay buffer
metrics     finished-episode statistics inside the compiled loop and their host-side reduction
checkpoint  msgpack checkpoints of the whole training state
evaluation  greedy team against heuristic teams on the same episodes, cost tables
loop        Learner interface, make_train, the host loop over compiled chunks (log, eval, checkpoint, resume)
plots       learning-curve and trajectory PNGs
"""
