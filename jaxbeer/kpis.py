"""Supply-chain KPIs per echelon and for the team, each with a 95% confidence interval over episodes.

One jitted, vmapped pass (``episode_kpis``) plays the episodes through ``jaxbeer.rollouts._episode``, the
same rollout path and episode keys as ``jaxbeer.evaluate``, and keeps per-episode sums in the scan carry,
never whole trajectories. A batch of policies (a leading axis on ``Policy.params``) is one more ``vmap``
(``episode_kpis_batch``). ``summarise_kpis`` turns the per-episode sums into estimates with intervals, and
``paired_differences`` / ``compare`` give intervals on the difference of two policies played on the same
episodes (common random numbers).

**The KPIs.** ``A`` echelons, retailer first; every episode has ``T = horizon`` periods; ``IL_k`` is echelon
``k``'s net inventory at the end of a period, the quantity the env charges for.

* ``cost``, ``holding_cost``, ``backlog_cost`` (float[A]): cost per episode, and its two parts,
  ``holding_cost[k] * max(IL_k, 0)`` and ``backlog_cost[k] * max(-IL_k, 0)`` summed over the periods
  (the env's own ``info["holding"]`` and ``info["backlog"]``, so ``holding + backlog == cost``).
  ``team_cost``, ``team_holding_cost``, ``team_backlog_cost``: the same summed over echelons.
* ``mean_on_hand``, ``mean_backlog`` (float[A]): units on hand, ``max(IL_k, 0)``, and units backlogged,
  ``max(-IL_k, 0)``, averaged over the ``T`` periods of an episode; ``team_*``: summed over echelons.
* ``bullwhip`` (float[A]): the variance of echelon ``k``'s orders over the variance of customer demand,
  both within an episode (over its ``T`` periods), each averaged over episodes, then divided:
  ``mean_e var(q_k) / mean_e var(d)``, as ``jaxbeer.evaluate`` reports it. ``nan`` when demand never varies.
* ``fill_rate`` (float[A]): units of arriving orders (customer demand for the retailer) shipped in the
  period they arrive, over units that arrive, pooled over all periods and episodes. The retailer's is the
  customer fill rate. 1 when nothing ever arrives (nothing was asked for, so nothing was refused).
* ``sla_k`` for ``k`` in ``sla_periods`` (float[A]): the share of units of arriving orders shipped within
  ``k`` periods of arriving. Each echelon serves what it owes first in, first out (the env ships its
  backlog before the new order, and ``filled`` counts only what is left for the new order). A game starts
  without backlog (``initial_inventory >= 0``), so with cumulative arrivals ``C_t = AO_0 + ... + AO_t``
  and cumulative shipments ``S_t``, the ``AO_t`` units arriving in period ``t`` are places ``C_{t-1} + 1 ..
  C_t`` of the queue, and ``min(AO_t, max(0, S_{t+k} - C_{t-1}))`` of them are shipped by period ``t + k``.
  Only arrivals with ``t + k <= T - 1`` are counted, since the rest could still be shipped in time after
  the episode ends (right-censoring). Pooled like the fill rate, and ``sla_0 == fill_rate``.

**Intervals.** Every interval is two-sided at ``confidence`` (0.95) and treats episodes as the
independent units:

* per-episode means (costs, on hand, backlog): Student's t-interval, ``mean +- t_{n-1} * sd / sqrt(n)``;
* pooled ratios (bullwhip, fill rate, SLA-k): a percentile bootstrap of the ratio of the two sums,
  resampling whole episodes (numerator and denominator together) with ``scipy.stats.bootstrap``,
  ``reps`` resamples from a ``seed``, so the same episodes always give the same interval.

**Paired differences.** Two policies scored on the same episode keys see the same demand paths; their
difference is estimated per episode (``a - b``), and the interval is the t-interval of those per-episode
differences (a paired bootstrap for the ratios: each resample draws the same episodes for both), which
is much narrower than two separate intervals would suggest. A policy against itself has every difference
exactly 0, so its interval is exactly ``[0, 0]``.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxbeer.env import BeerGame
from jaxbeer.params import EnvParams
from jaxbeer.policies import Policy
from jaxbeer.rollouts import _episode
from jaxbeer.validation import check_int, check_range

SLA_PERIODS = (0, 1, 2, 4)
"""Default ``k`` of the SLA-k KPIs: served the same period, within one, two and four periods."""

MEAN_KPIS = ("cost", "holding_cost", "backlog_cost", "mean_on_hand", "mean_backlog")
"""Per-echelon KPIs that are means of per-episode values (t-intervals); each has a ``team_`` total too."""
RATIO_KPIS = ("bullwhip", "fill_rate")
"""Per-echelon KPIs that are ratios of sums over episodes (bootstrap intervals), besides ``sla_k``."""


class Interval(NamedTuple):
    """An estimate with its confidence interval; ``float`` for team KPIs, ``float64[A]`` per echelon."""

    estimate: Any
    low: Any
    high: Any


def sla_names(sla_periods: Sequence[int] = SLA_PERIODS) -> tuple[str, ...]:
    """The KPI names of the SLA-k's: ``sla_0``, ``sla_1``, ..."""
    return tuple(f"sla_{k}" for k in sla_periods)


def kpi_names(sla_periods: Sequence[int] = SLA_PERIODS) -> tuple[str, ...]:
    """Every KPI ``summarise_kpis`` returns: per echelon, then the team totals."""
    return (*MEAN_KPIS, *RATIO_KPIS, *sla_names(sla_periods), *(f"team_{name}" for name in MEAN_KPIS))


# ------------------------------------------------------ per-episode sums
def _one_episode(
    env: BeerGame, params: EnvParams, policy: Policy, episode_key: jax.Array, sla_periods: tuple[int, ...]
) -> dict[str, jax.Array]:
    """Per-episode sums of one episode (see ``episode_kpis``)."""
    num_agents = env.num_agents
    lags = max(sla_periods) + 1
    ints = jnp.zeros((num_agents,), jnp.int32)
    floats = jnp.zeros((num_agents,), jnp.float32)
    sla_zeros = jnp.zeros((len(sla_periods), num_agents), jnp.int32)
    carry = {
        "period": jnp.int32(0),
        # Queue position before the arrivals of each of the last `lags` periods (lag 0: this period), and
        # those arrivals: all an SLA-k needs to know about an arrival k periods later.
        "queue_before": jnp.zeros((lags, num_agents), jnp.int32),
        "arrived_at_lag": jnp.zeros((lags, num_agents), jnp.int32),
        "queued": ints,  # C_t: units ever ordered from this echelon
        "shipped_total": ints,  # S_t
        "sums": {
            "cost": floats,
            "holding_cost": floats,
            "backlog_cost": floats,
            "on_hand": ints,
            "backlog": ints,
            "orders": ints,
            "orders_sq": floats,
            "filled": ints,
            "arriving": ints,
            "demand": jnp.int32(0),
            "demand_sq": jnp.float32(0),
            "sla_served": sla_zeros,
            "sla_arrived": sla_zeros,
        },
    }
    sla_lags = np.asarray(sla_periods)

    def record(carry, reward, info):
        arriving, net = info["arriving_order"], info["net_inventory"]
        queue_before = jnp.concatenate([carry["queued"][None], carry["queue_before"][:-1]])
        arrived_at_lag = jnp.concatenate([arriving[None], carry["arrived_at_lag"][:-1]])
        shipped_total = carry["shipped_total"] + info["shipped"]
        # Arrivals of period `period - k`, as far as they are shipped by now; lags before period 0 are empty.
        served = jnp.clip(shipped_total[None] - queue_before[sla_lags], 0, arrived_at_lag[sla_lags])
        counted = (carry["period"] >= sla_lags)[:, None]
        orders = info["orders"]
        orders_float = orders.astype(jnp.float32)
        demand = info["demand"]
        sums = carry["sums"]
        sums = {
            "cost": sums["cost"] + info["cost"],
            "holding_cost": sums["holding_cost"] + info["holding"],
            "backlog_cost": sums["backlog_cost"] + info["backlog"],
            "on_hand": sums["on_hand"] + jnp.maximum(net, 0),
            "backlog": sums["backlog"] + jnp.maximum(-net, 0),
            "orders": sums["orders"] + orders,
            "orders_sq": sums["orders_sq"] + orders_float * orders_float,
            "filled": sums["filled"] + info["filled"],
            "arriving": sums["arriving"] + arriving,
            "demand": sums["demand"] + demand,
            "demand_sq": sums["demand_sq"] + demand.astype(jnp.float32) ** 2,
            "sla_served": sums["sla_served"] + jnp.where(counted, served, 0),
            "sla_arrived": sums["sla_arrived"] + jnp.where(counted, arrived_at_lag[sla_lags], 0),
        }
        carry = {
            "period": carry["period"] + 1,
            "queue_before": queue_before,
            "arrived_at_lag": arrived_at_lag,
            "queued": carry["queued"] + arriving,
            "shipped_total": shipped_total,
            "sums": sums,
        }
        return carry, None

    return _episode(env, params, policy, episode_key, record, carry)[0]["sums"]


def _over_episodes(env, params, policy, key, num_episodes, sla_periods):
    # The same episode keys as jaxbeer.evaluate's, so its figures and these describe the same episodes.
    keys = jax.random.split(key, num_episodes)
    return jax.vmap(lambda episode_key: _one_episode(env, params, policy, episode_key, sla_periods))(keys)


_STATIC = ("env", "num_episodes", "sla_periods")
_kpis_jit = jax.jit(_over_episodes, static_argnames=_STATIC)


@functools.partial(jax.jit, static_argnames=_STATIC)
def _batch_kpis_jit(env, params, policies, key, num_episodes, sla_periods):
    return jax.vmap(lambda policy: _over_episodes(env, params, policy, key, num_episodes, sla_periods))(policies)


def _checked_sla_periods(sla_periods: Sequence[int]) -> tuple[int, ...]:
    periods = tuple(check_int("sla period", k, 0) for k in sla_periods)
    if not periods or len(set(periods)) != len(periods):
        raise ValueError(f"sla_periods must be one or more distinct integers >= 0, got {list(sla_periods)}")
    return periods


def episode_kpis(
    env: BeerGame,
    params: EnvParams,
    policy: Policy,
    key: jax.Array,
    num_episodes: int,
    sla_periods: Sequence[int] = SLA_PERIODS,
) -> dict[str, np.ndarray]:
    """Per-episode sums of ``num_episodes`` episodes (leading axis), one compiled call.

    The episodes are those of ``jaxbeer.evaluate(env, params, policy, key, num_episodes)``. Keys, per
    echelon ``[E, A]`` unless noted: ``cost``, ``holding_cost``, ``backlog_cost`` (float32); ``on_hand``,
    ``backlog`` (int32 unit-periods); ``orders`` (int32), ``orders_sq`` (float32); ``filled``, ``arriving``
    (int32); ``demand`` (int32[E]), ``demand_sq`` (float32[E]); ``sla_served``, ``sla_arrived``
    (int32[E, K, A], see the module docstring).
    """
    check_int("num_episodes", num_episodes, 1)
    periods = _checked_sla_periods(sla_periods)
    return jax.device_get(_kpis_jit(env, params, policy, key, num_episodes, periods))


def episode_kpis_batch(
    env: BeerGame,
    params: EnvParams,
    policies: Policy,
    key: jax.Array,
    num_episodes: int,
    sla_periods: Sequence[int] = SLA_PERIODS,
) -> dict[str, np.ndarray]:
    """``episode_kpis`` of every policy of a batch (every leaf of ``policies.params`` has a leading axis
    ``P``), all on the same episodes, as one ``vmap``: leaves ``[P, E, ...]``."""
    check_int("num_episodes", num_episodes, 1)
    periods = _checked_sla_periods(sla_periods)
    return jax.device_get(_batch_kpis_jit(env, params, policies, key, num_episodes, periods))


def select(episodes: dict[str, np.ndarray], index: int) -> dict[str, np.ndarray]:
    """One policy's per-episode sums out of ``episode_kpis_batch``'s."""
    return jax.tree.map(lambda leaf: leaf[index], episodes)


# ------------------------------------------------------------ intervals
def mean_interval(values: np.ndarray, confidence: float = 0.95) -> Interval:
    """Student's t-interval of the mean over axis 0 (episodes), for each trailing entry.

    With zero spread the interval is exactly the mean; with one value it is ``nan`` wide.
    """
    import scipy.stats  # imported here: it takes about 0.6 s, and every process imports jaxbeer

    values = np.asarray(values, np.float64)
    count = values.shape[0]
    mean = values.mean(axis=0)
    if count < 2:
        nan = np.full_like(mean, np.nan)
        return Interval(mean, nan, nan)
    half_width = scipy.stats.t.ppf(0.5 + confidence / 2, count - 1) * values.std(axis=0, ddof=1) / math.sqrt(count)
    return Interval(mean, mean - half_width, mean + half_width)


def _ratio(numerators: np.ndarray, denominators: np.ndarray, empty: np.ndarray, axis: int = -1) -> np.ndarray:
    """Pooled ratios ``sum(numerators) / sum(denominators)`` along ``axis``; ``empty`` (broadcast from the
    leading axes) where nothing is pooled."""
    numerator, denominator = numerators.sum(axis=axis), denominators.sum(axis=axis)
    empty = empty.reshape(empty.shape + (1,) * (numerator.ndim - empty.ndim))
    pooled = denominator > 0
    return np.where(pooled, numerator / np.where(pooled, denominator, 1.0), empty)


def _ratio_interval(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], empty: np.ndarray, confidence: float, reps: int, seed: int
) -> Interval:
    """Percentile-bootstrap interval of ``ratio(pairs[0])``, or of ``ratio(pairs[0]) - ratio(pairs[1])``.

    Each pair is ``(numerators, denominators)``, float64 ``[R, A, E]`` for ``R`` ratio KPIs; ``empty[R, A]``
    is a ratio's value with nothing pooled. One resample draws the same episodes (the last axis) for every
    array, so numerators stay with their denominators and the two policies of a difference stay paired.
    """
    import scipy.stats  # imported here: it takes about 0.6 s, and every process imports jaxbeer

    empty = np.asarray(empty, np.float64)

    def statistic(*arrays: np.ndarray, axis: int = -1) -> np.ndarray:
        first = _ratio(arrays[0], arrays[1], empty, axis)
        return first if len(arrays) == 2 else first - _ratio(arrays[2], arrays[3], empty, axis)

    data = tuple(np.asarray(array, np.float64) for pair in pairs for array in pair)
    estimate = statistic(*data)
    undefined = ~np.isfinite(estimate)  # e.g. bullwhip under demand that never varies
    if data[0].shape[-1] < 2:
        return Interval(estimate, np.full_like(estimate, np.nan), np.full_like(estimate, np.nan))
    # A defined placeholder keeps every resample finite; those entries are reported as nan below.
    data = tuple(np.where(undefined[..., None], 1.0, array) for array in data)
    result = scipy.stats.bootstrap(
        data,
        statistic,
        n_resamples=reps,
        # Resamples per batch, so that one batch of every array stays near 16 MB.
        batch=max(1, 2_000_000 // data[0].size),
        vectorized=True,
        paired=True,
        axis=-1,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low = np.where(undefined, np.nan, result.confidence_interval.low)
    high = np.where(undefined, np.nan, result.confidence_interval.high)
    return Interval(estimate, low, high)


def _ratio_parts(episodes: dict[str, np.ndarray], horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(numerators[R, A, E], denominators[R, A, E], empty[R, A])`` of the ratio KPIs, in the order fill
    rate, the SLA-k's, bullwhip."""
    per_episode = jax.tree.map(lambda leaf: np.asarray(leaf, np.float64), episodes)
    num_agents = per_episode["cost"].shape[-1]
    # Variances within each episode, over its periods (population variance, as jaxbeer.evaluate's).
    order_var = per_episode["orders_sq"] / horizon - (per_episode["orders"] / horizon) ** 2
    demand_var = per_episode["demand_sq"] / horizon - (per_episode["demand"] / horizon) ** 2
    numerators = np.concatenate(
        [per_episode["filled"][None], np.moveaxis(per_episode["sla_served"], 1, 0), order_var[None]]
    )
    denominators = np.concatenate(
        [
            per_episode["arriving"][None],
            np.moveaxis(per_episode["sla_arrived"], 1, 0),
            np.broadcast_to(demand_var[:, None], order_var.shape)[None],
        ]
    )
    rows = numerators.shape[0]
    empty = np.ones((rows, num_agents))
    empty[-1] = np.nan  # no demand variance: no bullwhip
    # [R, E, A] -> [R, A, E]: episodes last, the axis the bootstrap resamples.
    return np.moveaxis(numerators, 1, -1), np.moveaxis(denominators, 1, -1), empty


def _mean_values(episodes: dict[str, np.ndarray], horizon: int) -> dict[str, np.ndarray]:
    """Per-episode values of the mean KPIs, ``[E, A]`` per echelon and ``[E]`` for the team totals."""
    values = {
        "cost": np.asarray(episodes["cost"], np.float64),
        "holding_cost": np.asarray(episodes["holding_cost"], np.float64),
        "backlog_cost": np.asarray(episodes["backlog_cost"], np.float64),
        "mean_on_hand": np.asarray(episodes["on_hand"], np.float64) / horizon,
        "mean_backlog": np.asarray(episodes["backlog"], np.float64) / horizon,
    }
    return {**values, **{f"team_{name}": value.sum(axis=-1) for name, value in values.items()}}


def _split_ratios(interval: Interval, sla_periods: Sequence[int]) -> dict[str, Interval]:
    names = ("fill_rate", *sla_names(sla_periods), "bullwhip")
    return {name: Interval(*(np.asarray(part)[row] for part in interval)) for row, name in enumerate(names)}


def _as_reported(interval: Interval) -> Interval:
    """Team KPIs as Python floats, per-echelon ones as float64 arrays."""
    parts = [np.asarray(part, np.float64) for part in interval]
    return Interval(*(float(part) if part.ndim == 0 else part for part in parts))


def _checked_interval_settings(confidence: float, reps: int) -> None:
    check_range("confidence", confidence, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    check_int("reps", reps, 1)


def _checked_names(names: Sequence[str] | None, sla_periods: Sequence[int]) -> tuple[str, ...]:
    known = kpi_names(sla_periods)
    if names is None:
        return known
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"unknown KPI(s) {unknown}; known: {list(known)}")
    return tuple(names)


def _report(
    mean_values: dict[str, np.ndarray],
    ratio_pairs: Callable[[], tuple[list, np.ndarray]],
    names: tuple[str, ...],
    sla_periods: Sequence[int],
    confidence: float,
    reps: int,
    seed: int,
) -> dict[str, Interval]:
    """The requested KPIs: t-intervals of ``mean_values``, and (only if a ratio KPI is requested, as it
    is the slow part) one bootstrap over the ratio KPIs of ``ratio_pairs()``."""
    report = {name: mean_interval(mean_values[name], confidence) for name in names if name in mean_values}
    if any(name not in mean_values for name in names):
        pairs, empty = ratio_pairs()
        report.update(_split_ratios(_ratio_interval(pairs, empty, confidence, reps, seed), sla_periods))
    return {name: _as_reported(report[name]) for name in names}


def summarise_kpis(
    episodes: dict[str, np.ndarray],
    horizon: int,
    sla_periods: Sequence[int] = SLA_PERIODS,
    confidence: float = 0.95,
    reps: int = 2000,
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> dict[str, Interval]:
    """KPIs with their intervals from ``episode_kpis``' per-episode sums (``sla_periods`` as they were
    computed with): ``names`` (default: all of ``kpi_names(sla_periods)``). ``seed`` drives the bootstrap.
    See the module docstring for the definitions and the methods."""
    _checked_interval_settings(confidence, reps)
    horizon = check_int("horizon", horizon, 1)
    names = _checked_names(names, sla_periods)

    def ratio_pairs():
        numerators, denominators, empty = _ratio_parts(episodes, horizon)
        return [(numerators, denominators)], empty

    return _report(_mean_values(episodes, horizon), ratio_pairs, names, sla_periods, confidence, reps, seed)


def paired_differences(
    episodes_a: dict[str, np.ndarray],
    episodes_b: dict[str, np.ndarray],
    horizon: int,
    sla_periods: Sequence[int] = SLA_PERIODS,
    confidence: float = 0.95,
    reps: int = 2000,
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> dict[str, Interval]:
    """KPI of policy a minus KPI of policy b, with the interval of the paired difference.

    Both must come from the same episode keys (``episode_kpis`` with one ``key`` and ``num_episodes``):
    mean KPIs take the t-interval of the per-episode differences, ratio KPIs a bootstrap that resamples
    the same episodes for both. ``names`` as in ``summarise_kpis``.
    """
    _checked_interval_settings(confidence, reps)
    horizon = check_int("horizon", horizon, 1)
    names = _checked_names(names, sla_periods)
    if not np.array_equal(np.asarray(episodes_a["demand"]), np.asarray(episodes_b["demand"])):
        raise ValueError("paired_differences needs both policies scored on the same episodes (their demand differs)")
    values_a, values_b = _mean_values(episodes_a, horizon), _mean_values(episodes_b, horizon)
    differences = {name: values_a[name] - values_b[name] for name in values_a}

    def ratio_pairs():
        *parts_a, empty = _ratio_parts(episodes_a, horizon)
        *parts_b, _ = _ratio_parts(episodes_b, horizon)
        return [tuple(parts_a), tuple(parts_b)], empty

    return _report(differences, ratio_pairs, names, sla_periods, confidence, reps, seed)


# ------------------------------------------------------- one-call forms
def kpis(
    env: BeerGame,
    params: EnvParams,
    policy: Policy,
    key: jax.Array,
    num_episodes: int = 1000,
    sla_periods: Sequence[int] = SLA_PERIODS,
    confidence: float = 0.95,
    reps: int = 2000,
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> dict[str, Interval]:
    """KPIs of ``policy`` with their intervals over ``num_episodes`` episodes (those of ``jaxbeer.evaluate``
    with the same ``key``); the arguments after ``num_episodes`` are ``summarise_kpis``'."""
    episodes = episode_kpis(env, params, policy, key, num_episodes, sla_periods)
    return summarise_kpis(episodes, env.config.horizon, sla_periods, confidence, reps, seed, names)


def compare(
    env: BeerGame,
    params: EnvParams,
    policy_a: Policy,
    policy_b: Policy,
    key: jax.Array,
    num_episodes: int = 1000,
    sla_periods: Sequence[int] = SLA_PERIODS,
    confidence: float = 0.95,
    reps: int = 2000,
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> dict[str, Interval]:
    """``policy_a``'s KPIs minus ``policy_b``'s on the same ``num_episodes`` episodes (common random
    numbers), each with the interval of the paired difference (see ``paired_differences``)."""
    episodes_a = episode_kpis(env, params, policy_a, key, num_episodes, sla_periods)
    episodes_b = episode_kpis(env, params, policy_b, key, num_episodes, sla_periods)
    return paired_differences(episodes_a, episodes_b, env.config.horizon, sla_periods, confidence, reps, seed, names)


def to_json(report: dict[str, Interval]) -> dict[str, dict[str, Any]]:
    """A report as JSON-ready ``{kpi: {"estimate", "low", "high"}}`` (lists per echelon, ``None`` for nan)."""

    def plain(value):
        array = np.asarray(value, np.float64)
        listed = array.tolist()
        if array.ndim == 0:
            return None if math.isnan(listed) else listed
        return [None if math.isnan(v) else v for v in listed]

    return {
        name: {part: plain(value) for part, value in interval._asdict().items()} for name, interval in report.items()
    }
