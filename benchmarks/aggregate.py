"""Aggregates over training seeds: the interquartile mean with stratified-bootstrap intervals.

This follows the protocol of Agarwal et al. (2021), "Deep RL at the edge of the statistical precipice": the point
estimate is the interquartile mean (IQM, the mean of the middle 50% of all run x task scores, i.e. a 25% trimmed
mean), and its interval comes from a *stratified* bootstrap, which resamples runs with replacement separately within
every task, so that each resample keeps the same number of runs per task. With a handful of seeds the IQM is far
less sensitive to one lucky or broken seed than the mean, and far less noisy than the median.

It is written on ``scipy.stats.bootstrap`` rather than the authors' library, rliable, because rliable 1.2 does not
install cleanly beside this project: its arch dependency fails to import under pandas 3 (arch 7) or rejects the
``random_state`` rliable passes (arch 8), and it draws from NumPy's global generator whatever seed it is given.
scipy resamples each of several samples independently, which is exactly the stratified bootstrap when every task's
runs are one sample; the interval is the percentile one, as rliable's default.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def interquartile_mean(scores: np.ndarray) -> float:
    """Mean of the middle 50% of all scores (a 25% trimmed mean over every run and task)."""
    return float(stats.trim_mean(np.ravel(scores), 0.25))


def iqm_interval(scores: np.ndarray, reps: int = 2000, seed: int = 0, confidence: float = 0.95) -> dict[str, float]:
    """Interquartile mean of ``scores`` and its stratified-bootstrap percentile interval.

    Args:
      scores: ``[runs]`` (one task) or ``[runs, tasks]`` final scores, e.g. the evaluation cost of each seed.
      reps: bootstrap resamples.
      seed: seed of the resampling, so the same scores always give the same interval.
      confidence: coverage of the interval.

    Returns:
      ``{"iqm": ..., "low": ..., "high": ...}`` as Python floats, ``low <= iqm <= high``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]
    if scores.ndim != 2 or scores.shape[0] < 1 or scores.shape[1] < 1:
        raise ValueError(f"scores must have shape [runs] or [runs, tasks], got {scores.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    iqm = interquartile_mean(scores)
    if scores.shape[0] < 2 or np.ptp(scores) == 0.0:  # every resample is the sample itself
        return {"iqm": iqm, "low": iqm, "high": iqm}
    per_task = tuple(scores[:, task] for task in range(scores.shape[1]))  # one sample per stratum
    result = stats.bootstrap(
        per_task,
        lambda *resampled: interquartile_mean(np.stack(resampled, axis=-1)),
        n_resamples=reps,
        confidence_level=confidence,
        method="percentile",
        vectorized=False,
        random_state=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return {"iqm": iqm, "low": float(min(low, iqm)), "high": float(max(high, iqm))}
