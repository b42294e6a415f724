"""Pieces every learner shares, written once, one job per module; ``loop.Learner`` is the contract.

config       CommonConfig, tyro CLI parsing, one-line usage errors (exit 2), flag checks
team         who plays each echelon (--agents), mixed orders, the learned team as a jaxbeer policy
vector_env   a batch of games: staggered reset, one vectorised team step over the env's own auto-reset
reference    the optimised base-stock team, cached on disk
game         the game a learner plays: env, team, reference, reward scale
networks     flax MLP heads (policy, value, Q), shared or per-echelon parameters, agent-id one-hot, symlog
gae          advantages that bootstrap truncated episodes from final_obs and stop only at termination
minibatches  shuffled minibatches of whole games for the PPO epochs
replay       the value-based learners' on-device replay buffer
metrics      finished-episode statistics inside the compiled loop and their host-side reduction
files        atomic writes
rundir       one run per directory: the process-lifetime lock, --overwrite
runlog       log.jsonl: append, tolerant read (damaged lines dropped with a warning), atomic truncate
tensorboard  --tensorboard: each log.jsonl record mirrored as TensorBoard scalars
checkpoint   checked msgpack checkpoints of the whole training state, the last two kept
evaluation   greedy team against heuristic teams on the same episodes, cost tables
sharding     the device mesh, the train state's shardings, jax.distributed, process 0 writes
sweep        --sweep FILE: configurations grouped into compiled programs, their table and plot
loop         Learner interface, make_train, the host loop over compiled chunks (log, eval, checkpoint, resume)
plots        learning-curve and trajectory PNGs
"""
