"""Customer demand: inverse-CDF tables built once on the host, one table look-up per period.

Every stochastic process is reduced to a table of ``K`` uint32 thresholds. With
``u`` one uniform 32-bit word, the demand is

    d_t = max(0, base_t + offset + #{i : u >= thresholds[i]})

which costs ``K`` compares and no rejection loop, so it is cheap under ``vmap``.
``thresholds[i] = round(P(X <= offset + i) * 2**32)``; the probability beyond the
last table entry (below 1e-9 for the built-in tables) is folded into the last
value. Drawing one period at a time, rather than a whole path at reset, keeps
the auto-reset in ``step`` cheap: a reset only rebuilds the initial state.

The words come from ``random_words``, which returns exactly
``jax.random.bits(key, (n,), jnp.uint32)``. On CPU, JAX lowers the threefry
hash behind ``jax.random.bits`` to a rolled loop of five steps, each a separate
pass over the whole batch; written out here in plain ``jnp`` ops it is one
vectorised loop (``docs/performance.md`` gives what that saves).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxbeer.params import EnvConfig, EnvParams

_TWO_32 = float(2**32)
_THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_UNROLLED_TABLE_SIZE = 128  # longer tables keep the vectorised sum (compile time)
MAX_TABLE_VALUES = 1 << 16  # Poisson rates up to about 60000


def threefry2x32(key1: jax.Array, key2: jax.Array, count1: jax.Array, count2: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The Threefry-2x32 block cipher (20 rounds), elementwise on uint32 arrays.

    Bit for bit what ``jax.random`` computes for threefry keys, written with
    plain ops so XLA fuses it (the CPU lowering of JAX's own is a rolled loop).
    """
    schedule = (key1, key2, key1 ^ key2 ^ np.uint32(0x1BD11BDA))
    x1, x2 = count1 + schedule[0], count2 + schedule[1]
    for block in range(5):
        for rotation in _THREEFRY_ROTATIONS[block % 2]:
            x1 = x1 + x2
            x2 = ((x2 << np.uint32(rotation)) | (x2 >> np.uint32(32 - rotation))) ^ x1
        x1 = x1 + schedule[(block + 1) % 3]
        x2 = x2 + schedule[(block + 2) % 3] + np.uint32(block + 1)
    return x1, x2


def threefry_key_words(key: jax.Array) -> tuple[jax.Array, jax.Array] | None:
    """``(key1, key2)`` uint32 words of a threefry key (raw ``uint32[2]`` or typed),
    or ``None`` when ``jax.random.bits`` would not use the partitionable threefry
    scheme that ``threefry2x32`` replays (another PRNG implementation or setting)."""
    if not getattr(jax.config, "jax_threefry_partitionable", False):
        return None
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if str(jax.random.key_impl(key)) != "threefry2x32":
            return None
        data = jax.random.key_data(key)
    elif key.dtype == jnp.uint32 and key.shape == (2,) and jax.config.jax_default_prng_impl == "threefry2x32":
        data = key
    else:
        return None
    return data[0], data[1]


def random_words(key: jax.Array, num_words: int) -> jax.Array:
    """uint32[num_words], equal to ``jax.random.bits(key, (num_words,), jnp.uint32)``."""
    words = threefry_key_words(key)
    if words is None:
        return jax.random.bits(key, (num_words,), jnp.uint32)
    counts = jnp.arange(num_words, dtype=jnp.uint32)
    # Partitionable threefry: word i hashes the 64-bit counter (high 0, low i)
    # and xors the two output halves.
    high, low = threefry2x32(words[0], words[1], jnp.zeros_like(counts), counts)
    return high ^ low


def thresholds_from_pmf(pmf: np.ndarray) -> np.ndarray:
    """uint32 thresholds for values ``0..len(pmf)-1`` (shifted by the offset)."""
    pmf = np.asarray(pmf, dtype=np.float64)
    if pmf.ndim != 1 or pmf.size == 0 or np.any(pmf < 0) or not np.isfinite(pmf).all():
        raise ValueError("demand pmf must be a non-empty 1-D array of non-negative probabilities")
    cdf = np.cumsum(pmf / pmf.sum())[:-1]
    if cdf.size == 0:  # one-point distribution: no threshold ever passed
        return np.full((1,), 2**32 - 1, dtype=np.uint32)
    return np.minimum(np.round(cdf * _TWO_32), 2**32 - 1).astype(np.uint32)


def _check_table_size(values: int, setting: str) -> None:
    """Refuse a table too large to build and scan every period (what ``setting`` would need)."""
    if values > MAX_TABLE_VALUES:
        raise ValueError(
            f"{setting} needs a demand table of {values} values; at most {MAX_TABLE_VALUES} are "
            "supported (a demand of that size is beyond what the int32 game is meant for)"
        )


def uniform_table(low: int, high: int) -> tuple[np.ndarray, int]:
    """Thresholds and offset of demand uniform on ``low..high``."""
    if low < 0 or high < low:
        raise ValueError(
            f"uniform demand needs 0 <= demand_low <= demand_high, got demand_low={low}, demand_high={high}"
        )
    _check_table_size(high - low + 1, f"demand_low={low}, demand_high={high}")
    return thresholds_from_pmf(np.ones(high - low + 1)), low


def poisson_table(rate: float) -> tuple[np.ndarray, int]:
    """Thresholds and offset of Poisson(``rate``) demand; the table ends 12 standard deviations (plus 12) above
    the mean, past which the mass is negligible."""
    if not rate > 0 or not math.isfinite(rate):
        raise ValueError(f"demand_rate (Poisson) must be finite and > 0, got {rate}")
    top = int(math.ceil(rate + 12 * math.sqrt(rate) + 12))
    _check_table_size(top + 1, f"demand_rate={rate}")
    values = np.arange(top + 1)
    log_pmf = values * math.log(rate) - rate - np.array([math.lgamma(v + 1) for v in values])
    return thresholds_from_pmf(np.exp(log_pmf)), 0


def rounded_normal_pmf(mean: float, std: float, low: int, high: int) -> np.ndarray:
    """P(round(N(mean, std)) = v) for v in low..high, tails folded into the ends."""
    edges = np.arange(low, high + 2) - 0.5
    cdf = np.array([0.5 * (1 + math.erf((e - mean) / (std * math.sqrt(2)))) for e in edges])
    pmf = np.diff(cdf)
    pmf[0] += cdf[0]
    pmf[-1] += 1 - cdf[-1]
    return pmf


def normal_table(mean: float, std: float) -> tuple[np.ndarray, int]:
    """``max(0, round(N(mean, std)))``: the mass below zero is folded into 0."""
    if not std > 0 or not math.isfinite(mean):
        raise ValueError(
            f"normal demand needs demand_std > 0 and a finite demand_mean, got demand_mean={mean}, demand_std={std}"
        )
    if not math.isfinite(std):
        raise ValueError(f"demand_std must be finite, got {std}")
    high = max(1, int(math.ceil(mean + 8 * std)))
    _check_table_size(high + 1, f"demand_mean={mean}, demand_std={std}")
    return thresholds_from_pmf(rounded_normal_pmf(mean, std, 0, high)), 0


def noise_table(std: float) -> tuple[np.ndarray, int]:
    """Zero-mean rounded normal noise, for the seasonal process."""
    if not std >= 0 or not math.isfinite(std):
        raise ValueError(f"seasonal_noise must be finite and >= 0, got {std}")
    if std == 0:
        return thresholds_from_pmf(np.ones(1)), 0
    half = int(math.ceil(8 * std))
    _check_table_size(2 * half + 1, f"seasonal_noise={std}")
    return thresholds_from_pmf(rounded_normal_pmf(0.0, std, -half, half)), -half


def table_mean(thresholds: np.ndarray, offset: int) -> float:
    """Mean of the demand a table draws; for a normal cut at 0 it is not the normal's own mean."""
    cdf = np.concatenate([np.asarray(thresholds, np.float64) / _TWO_32, [1.0]])
    pmf = np.diff(np.concatenate([[0.0], cdf]))
    return float(np.sum(pmf * (offset + np.arange(pmf.size))))


def demand_at(config: EnvConfig, params: EnvParams, period: jax.Array, word: jax.Array) -> jax.Array:
    """Customer demand of ``period`` from one uniform uint32 ``word``. int32[]."""
    kind = config.demand_kind
    if kind == "classic":
        return jnp.where(period < params.classic_switch, params.classic_low, params.classic_high)
    if kind == "trace":
        # The horizon is validated against the trace length; clip keeps the
        # look-up in bounds for the period after the last.
        return params.demand_trace[jnp.minimum(period, config.trace_length - 1)]
    thresholds = params.demand_thresholds
    if config.demand_table_size <= _UNROLLED_TABLE_SIZE:
        # Unrolled: XLA's CPU backend turns the vectorised compare-and-sum
        # below into a slow generic reduction, while a few dozen compares fuse
        # into the step (figures in docs/performance.md).
        drawn = params.demand_offset
        for index in range(config.demand_table_size):
            drawn = drawn + (word >= thresholds[index]).astype(jnp.int32)
    else:
        drawn = params.demand_offset + jnp.sum(word >= thresholds, dtype=jnp.int32)
    if kind == "seasonal":
        phase = 2.0 * jnp.pi * period.astype(jnp.float32) / params.seasonal_period
        base = jnp.round(params.seasonal_mean + params.seasonal_amplitude * jnp.sin(phase))
        drawn = drawn + base.astype(jnp.int32)
    return jnp.maximum(drawn, 0)
