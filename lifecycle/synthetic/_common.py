"""The world every step shares (its size, dates and one random generator) and small vectorised
helpers: ids, pandas columns, timestamps, ranks and draws.

Times inside the generator are days since the window start (floats), so ``as_of`` is
``World.days``; :func:`_ts` turns them into timestamps.
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_US_PER_DAY = 86_400_000_000
_MINUTE = 1 / 1440


class World(NamedTuple):
    """The number of customers, a random generator and the window of the demo."""

    n: int
    rng: np.random.Generator
    as_of: pd.Timestamp
    start: pd.Timestamp
    days: float  # window length: as_of in days since start
    start_us: int  # start in microseconds since the epoch
    seed: int = 0  # the demo's seed, from which each step's stream is derived
    part: int = 0  # in a demo made in parts (:func:`lifecycle.synthetic.parts`): this one
    part_digits: int = 0  # digits of the part number in its ids (0 = a demo in one part)


def make_world(n, as_of, years, seed) -> World:
    """The window of ``years`` that ends at the midnight of ``as_of`` (naive UTC)."""
    if n < 1:
        raise ValueError(f"n_customers must be at least 1, got {n}")
    as_of = pd.Timestamp(as_of).normalize()
    if as_of.tzinfo is not None:
        as_of = as_of.tz_convert("UTC").tz_localize(None)
    days = int(round(years * 365.25))
    start = as_of - pd.Timedelta(days=days)
    return World(n=int(n), rng=np.random.default_rng(seed), as_of=as_of, start=start,
                 days=float(days), start_us=int(np.datetime64(start, "us").astype(np.int64)),
                 seed=seed)


def for_step(world: World, step) -> World:
    """The world with a random stream of ``step``'s own, seeded by the demo's seed and the
    step's name: a step draws the same numbers whatever the other steps draw, so changing one
    domain's parameters leaves the other domains' tables as they were."""
    name = f"{step.__module__}.{step.__qualname__}".encode()
    key = [world.seed, zlib.crc32(name)] + ([world.part] if world.part else [])
    return world._replace(rng=np.random.default_rng(key))


def _ids(prefix: str, numbers, width: int) -> pa.Array:
    """``prefix`` + zero-padded numbers, as an Arrow string array."""
    text = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, np.int64)), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, text, "")


def _numbered(world: World, prefix: str, numbers, width: int) -> pa.Array:
    """Ids of ``world``: in a demo made in parts, the part's number follows the prefix (part 3
    of 10: ``C3000017``), so that parts made apart never share an id."""
    if world.part_digits:
        prefix += f"{world.part:0{world.part_digits}d}"
    return _ids(prefix, numbers, width)


def _width(n: int, least: int = 6) -> int:
    return max(least, len(str(int(n))))


def _str(values: pa.Array, index=None) -> pd.arrays.ArrowStringArray:
    """A pandas ``str`` array from Arrow strings, optionally taken at ``index`` (-1 = null)."""
    if index is not None:
        index = np.asarray(index)
        values = values.take(pa.array(np.maximum(index, 0), mask=index < 0))
    return pd.array(values, dtype="str")


def _cat(codes, labels) -> pd.Categorical:
    """A categorical from integer codes (-1 = null) into ``labels``."""
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu":
        codes = codes.astype(np.int32)
    return pd.Categorical.from_codes(codes, categories=list(labels))


def _ts(world: World, days) -> np.ndarray:
    """Days since the window start (NaN = missing) as naive UTC ``datetime64[us]``."""
    days = np.asarray(days, float)
    ok = np.isfinite(days)
    out = np.full(days.shape, np.iinfo(np.int64).min, np.int64)
    out[ok] = world.start_us + np.round(days[ok] * _US_PER_DAY).astype(np.int64)
    return out.view("datetime64[us]")


def _rank(groups) -> np.ndarray:
    """0-based position of each element within its run of equal values of a sorted array."""
    groups = np.asarray(groups)
    n = len(groups)
    if n == 0:
        return np.zeros(0, np.int64)
    first = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    return np.arange(n) - np.repeat(first, np.diff(np.r_[first, n]))


def _choice(rng, weights, size) -> np.ndarray:
    weights = np.asarray(weights, float)
    return rng.choice(len(weights), size=size, p=weights / weights.sum())


def _tod_store(rng, size) -> np.ndarray:
    """Time of day (days) of a store visit: opening hours 10-20 local = 08-18 UTC."""
    return (8 + 10 * rng.beta(2, 2, size)) / 24


def _tod_web(rng, size) -> np.ndarray:
    """Time of day (days) of a web purchase: peak in the evening (UTC)."""
    return np.mod(rng.normal(17.5, 4.0, size), 24) / 24


def _expand(rng, counts, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """For ``counts[i]`` draws each, uniform in ``[lo[i], hi[i])``: (owner index, value)."""
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, lo[owner] + rng.random(len(owner)) * (hi - lo)[owner]


def _take(record: NamedTuple, index) -> NamedTuple:
    """The record of equally long arrays with every array taken at ``index``."""
    return type(record)._make(values[index] for values in record)


def _concat(*records: NamedTuple) -> NamedTuple:
    """Records of equally long arrays, one after the other."""
    return type(records[0])._make(np.concatenate(values) for values in zip(*records, strict=True))
