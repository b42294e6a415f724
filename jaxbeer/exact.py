"""Exact long-run cost of local base-stock policies on the serial chain, and the Clark–Scarf optimum.

No simulation: everything is a recursion over echelons on lead-time-demand
distributions, computed by exact discrete convolutions of the env's own
one-period demand pmf (read off its inverse-CDF table, so it is the pmf the
sampler draws from). The supports are finite, so nothing is truncated; the only
error is float64 rounding (about 1e-12 relative).

**Why the recursion holds** (derived from ``jaxbeer.env``'s period order). Under
``policies.base_stock(S)`` the inventory position at decision time is
``IL + OO - AO <= S`` once the initial stock has run down, so from then on
every echelon orders exactly what it is asked for and, at the end of every
period, ``IL_k + OO_k = S_k``. A retailer order placed in period ``t`` reaches
echelon ``k+1`` in period ``t + order_lead[k]``, is shipped there (if in stock)
and is received, before cost is charged, in period
``t + order_lead[k] + shipment_lead[k]``; the manufacturer's production order
arrives after ``shipment_lead[A-1]`` periods. Counting what ``OO_k`` holds gives

    IL_k(t) = S_k - D_k(t) - B_{k+1}(t - shipment_lead[k]),    B_k = max(-IL_k, 0),  B_A = 0,

where ``D_k`` is the customer demand of ``m_k`` consecutive periods, with
``m_k = order_lead[k] + shipment_lead[k]`` (``shipment_lead[A-1]`` for the
manufacturer), plus one when the order lead *into* ``k`` is 0 (such an order is
not yet in ``AO`` when ``k`` decides, so ``k`` replenishes it one period late).
The demand windows of ``D_k`` and of ``B_{k+1}``'s own ``D_{k+1}`` are adjacent
and disjoint, so ``D_k`` and ``B_{k+1}`` are independent: the pmf of ``IL_k``
is ``S_k`` minus the convolution of the two, from the manufacturer down.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from jaxbeer.env import BeerGame
from jaxbeer.params import EnvParams

_TWO_32 = float(2**32)
_TIE = 1e-12  # relative slack under which two costs count as equal (plateaus of zero echelon holding cost)


class ExactResult(NamedTuple):
    """Local base-stock levels (retailer first), their exact long-run team cost per period, and what they are."""

    levels: np.ndarray  # int32[A]
    cost: float
    kind: str  # "optimal" (Clark–Scarf conditions hold) or "best base-stock" (local search)


# ----------------------------------------------------------------- inputs
def demand_pmf(env: BeerGame, params: EnvParams) -> np.ndarray:
    """pmf of one period's customer demand over ``0..n-1``, exactly as the env's table draws it."""
    kind = env.config.demand_kind
    if kind in ("classic", "trace"):
        raise ValueError(
            f"exact evaluation needs i.i.d. demand; demand {kind!r} is deterministic and non-stationary, "
            "so there is no stationary long-run cost"
        )
    if kind == "seasonal":
        raise ValueError("exact evaluation needs i.i.d. demand; seasonal demand is non-stationary")
    thresholds = np.asarray(params.demand_thresholds, np.float64)
    if thresholds.ndim != 1:
        raise ValueError(f"exact evaluation takes unbatched params, got demand_thresholds of shape {thresholds.shape}")
    cdf = np.concatenate([thresholds / _TWO_32, [1.0]])
    table = np.diff(np.concatenate([[0.0], cdf]))  # P(draw = offset + i)
    values = int(params.demand_offset) + np.arange(table.size)
    pmf = np.zeros(int(max(values.max(), 0)) + 1)
    np.add.at(pmf, np.maximum(values, 0), table)  # the env clips demand at 0
    return np.trim_zeros(pmf, "b")  # values the table never draws (exactly zero mass)


def lead_windows(env: BeerGame, params: EnvParams) -> np.ndarray:
    """``m_k``: how many periods of customer demand echelon ``k``'s net inventory lags behind (see module doc)."""
    if env.config.random_leads:
        raise ValueError(
            "exact evaluation needs fixed lead times; with random_leads the lead-time demand is not a fixed "
            "window of periods (and shipments can cross)"
        )
    params.check_shapes(env.config)
    shipment = np.asarray(params.shipment_lead_min, np.int64)
    order = np.asarray(params.order_lead_min, np.int64)
    windows = shipment + np.concatenate([order, [0]])
    windows[1:] += order == 0  # an order with lead 0 is replenished one period late
    return windows


def _checked(env: BeerGame, params: EnvParams) -> tuple[np.ndarray, np.ndarray]:
    windows = lead_windows(env, params)
    pmf = demand_pmf(env, params)
    if pmf.size - 1 > env.config.max_order:
        # In the long run every echelon orders what it is asked for; a clipped order breaks the recursion.
        raise ValueError(
            f"exact evaluation needs demand <= max_order={env.config.max_order}, but demand reaches {pmf.size - 1}"
        )
    return pmf, windows


def _convolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy import signal  # imported here: it takes about 1.5 s, and every process imports jaxbeer

    out = signal.convolve(a, b)  # picks FFT for long inputs; clip its rounding noise
    return np.maximum(out, 0.0)


def lead_time_pmfs(pmf: np.ndarray, windows: Sequence[int]) -> list[np.ndarray]:
    """pmf of the demand over ``m`` periods for each window ``m`` (``m``-fold convolutions)."""
    powers: dict[int, np.ndarray] = {0: np.ones(1), 1: np.asarray(pmf, np.float64)}

    def power(m: int) -> np.ndarray:
        if m not in powers:
            half = power(m // 2)
            squared = _convolve(half, half)
            powers[m] = squared if m % 2 == 0 else _convolve(squared, powers[1])
        return powers[m]

    return [power(int(m)) for m in windows]


# ------------------------------------------------------------- evaluation
def chain_cost(
    lead_pmfs: Sequence[np.ndarray], holding: Sequence[float], backlog: Sequence[float], levels: Sequence[int]
) -> float:
    """Long-run expected cost per period of local levels, from each echelon's lead-time-demand pmf."""
    shortfall = np.ones(1)  # pmf of B_{k+1}, what echelon k+1 owes k; the manufacturer is never short
    cost = 0.0
    for k in reversed(range(len(levels))):
        need = _convolve(lead_pmfs[k], shortfall)  # pmf of D_k + B_{k+1}; IL_k = S_k - need
        net = int(levels[k]) - np.arange(need.size)
        cost += float(holding[k]) * float(need @ np.maximum(net, 0)) + float(backlog[k]) * float(
            need @ np.maximum(-net, 0)
        )
        cut = int(levels[k]) + 1  # B_k = max(need - S_k, 0)
        shortfall = np.concatenate([[need[:cut].sum()], need[cut:]]) if cut < need.size else np.ones(1)
    return cost


def _costs(params: EnvParams) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(params.holding_cost, np.float64), np.asarray(params.backlog_cost, np.float64)


def _checked_levels(levels, num_agents: int) -> np.ndarray:
    array = np.asarray(levels)
    if array.shape != (num_agents,) or not np.issubdtype(array.dtype, np.integer) or np.any(array < 0):
        raise ValueError(f"levels must be {num_agents} integers >= 0 (retailer first), got {array.tolist()}")
    return array.astype(np.int64)


def base_stock_cost(env: BeerGame, params: EnvParams, levels: Sequence[int] | np.ndarray) -> float:
    """Exact long-run expected team cost per period of ``policies.base_stock(levels)``."""
    pmf, windows = _checked(env, params)
    holding, backlog = _costs(params)
    return chain_cost(lead_time_pmfs(pmf, windows), holding, backlog, _checked_levels(levels, env.num_agents))


# ----------------------------------------------------------- optimisation
def clark_scarf(
    pmf: np.ndarray, windows: Sequence[int], holding: Sequence[float], stockout_cost: float
) -> tuple[np.ndarray, float]:
    """Chen–Zheng's recursion with integer levels: optimal echelon levels (retailer first) and the optimal cost
    in the textbook's echelon form, which also charges each unit in transit to a stage at its sender's local
    holding cost.

    Needs local holding costs non-increasing upstream (echelon costs >= 0) and ``stockout_cost > 0``, charged at
    the retailer only. With ``Q_k = P_k - D_k`` (echelon level) and ``P_{k-1} = min(Y_{k-1}, Q_k)``, the cost is
    ``sum_k he_k Q_k + (h_0 + p) max(-Q_0, 0)``; stage by stage from the retailer,
    ``g_k(y) = E[he_k (y - D_k) + g_{k-1}(min(Y*_{k-1}, y - D_k))]`` and ``Y*_k = argmin g_k``.
    """
    holding = np.asarray(holding, np.float64)
    from scipy import signal  # imported here: it takes about 1.5 s, and every process imports jaxbeer

    echelon = holding - np.concatenate([holding[1:], [0.0]])
    lead_pmfs = lead_time_pmfs(pmf, windows)
    total = sum(p.size - 1 for p in lead_pmfs)
    # Every Y*_k lies in [0, total] (p > 0 makes each g_k decrease below 0; above total only holding grows).
    # Each expectation shortens the grid by its support, so start low enough that g_{A-1} still covers [0, total].
    low, high = -total - 1, total + 1
    grid = np.arange(low, high + 1)
    inner = echelon[0] * grid + (holding[0] + stockout_cost) * np.maximum(-grid, 0)
    levels: list[int] = []
    floor = 0.0
    for k, lead_pmf in enumerate(lead_pmfs):
        # g_k(y) = sum_d P(D_k = d) inner(y - d), for the y whose whole window lies on the grid.
        stage_cost = signal.convolve(inner, lead_pmf, mode="valid")
        grid = grid[lead_pmf.size - 1 :]
        floor = float(stage_cost.min())
        best_index = int(np.argmax(stage_cost <= floor + _TIE * max(1.0, abs(floor))))  # the smallest minimiser
        levels.append(int(grid[best_index]))
        if k + 1 < len(lead_pmfs):  # inner(z) = he_{k+1} z + g_k(min(Y*_k, z)), on g_k's grid
            inner = echelon[k + 1] * grid + np.where(grid < levels[-1], stage_cost, stage_cost[best_index])
    return np.asarray(levels, np.int64), floor


def echelon_to_local(echelon_levels: Sequence[int]) -> np.ndarray:
    """Local levels (retailer first) of echelon levels; a stage whose echelon level is above an upstream one's
    is capped there first, which changes nothing (it could never reach it)."""
    capped = np.minimum.accumulate(np.asarray(echelon_levels, np.int64)[::-1])[::-1]
    return np.maximum(np.diff(np.concatenate([[0], capped])), 0)


def clark_scarf_applies(params: EnvParams) -> bool:
    """Backlog cost at the retailer only (and positive), local holding costs non-increasing upstream."""
    holding, backlog = _costs(params)
    return bool(backlog[0] > 0 and np.all(backlog[1:] == 0) and np.all(np.diff(holding) <= 0) and holding[-1] >= 0)


def optimal_base_stock(env: BeerGame, params: EnvParams, max_rounds: int = 50) -> ExactResult:
    """Clark–Scarf optimal local base-stock levels where its conditions hold, else the best found by exact
    local search (coordinate scans over each echelon's whole useful range, then a +-1 neighbourhood)."""
    pmf, windows = _checked(env, params)
    holding, backlog = _costs(params)
    lead_pmfs = lead_time_pmfs(pmf, windows)
    if clark_scarf_applies(params):
        echelon_levels, _ = clark_scarf(pmf, windows, holding, float(backlog[0]))
        levels = echelon_to_local(echelon_levels)
        return ExactResult(levels.astype(np.int32), chain_cost(lead_pmfs, holding, backlog, levels), "optimal")

    num_agents = env.num_agents
    # Above the largest possible D_k + B_{k+1}, a higher level only adds holding cost.
    tops = np.cumsum([p.size - 1 for p in lead_pmfs][::-1])[::-1]
    cache: dict[tuple[int, ...], float] = {}

    def cost(candidate: tuple[int, ...]) -> float:
        if candidate not in cache:
            cache[candidate] = chain_cost(lead_pmfs, holding, backlog, candidate)
        return cache[candidate]

    def best_of(candidates: list[tuple[int, ...]]) -> tuple[int, ...]:
        return min(candidates, key=lambda c: (cost(c), c))

    mean = float(pmf @ np.arange(pmf.size))
    best = tuple(int(round(m * mean)) for m in windows)
    for _ in range(max_rounds):
        previous = best
        for k in range(num_agents):
            best = best_of([best[:k] + (level,) + best[k + 1 :] for level in range(int(tops[k]) + 1)])
        steps = np.stack(np.meshgrid(*[(-1, 0, 1)] * num_agents, indexing="ij"), -1).reshape(-1, num_agents)
        best = best_of([tuple(int(v) for v in np.clip(np.add(best, s), 0, tops)) for s in steps])
        if best == previous:
            break
    return ExactResult(np.asarray(best, np.int32), cost(best), "best base-stock")
