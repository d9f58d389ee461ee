"""The attack space: standardised coordinates ``z = (x - mean) / std`` of the perturbable numeric
columns, the rules that keep perturbed rows plausible, and the rows under attack."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import numpy as np
import pandas as pd

from certify.data import Schema

#: A move smaller than this many standard deviations is float noise, not a perturbation.
Z_TOLERANCE = 1e-6


@dataclasses.dataclass
class AttackSpace:
    """Standardised coordinates of the perturbable columns and the rules that keep rows plausible."""

    columns: list[str]
    mean: np.ndarray
    std: np.ndarray
    raw_lo: np.ndarray
    raw_hi: np.ndarray
    integer: np.ndarray
    norm: str
    lo: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    hi: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))

    @property
    def d(self) -> int:
        return len(self.columns)

    def to_z(self, raw: np.ndarray) -> np.ndarray:
        return (raw - self.mean) / self.std

    def plausible(self, z: np.ndarray, z0: np.ndarray, raw0: np.ndarray,
                  frozen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map attack points to plausible rows: returns (z, raw) after clipping and rounding."""
        z = np.asarray(z, dtype=float)
        dz = z - z0
        dz = np.where(np.abs(dz) < Z_TOLERANCE * np.maximum(1.0, np.abs(z0)), 0.0, dz)
        raw = raw0 + self.std * dz
        with np.errstate(invalid="ignore"):
            raw = np.clip(raw, np.fmin(self.raw_lo, raw0), np.fmax(self.raw_hi, raw0))
        if self.integer.any():
            ints = self.integer
            delta = raw[..., ints] - raw0[..., ints]
            # Whole units toward the original; a move within float32 noise of a whole number of
            # units is that number (the attack's float32 must not turn +1 into 0.99999994 -> 0).
            near = np.round(delta)
            noise = Z_TOLERANCE * self.std[ints] * np.maximum(1.0, np.abs(z[..., ints]))
            step = np.where(np.abs(delta - near) <= noise, near, np.trunc(delta))
            raw[..., ints] = raw0[..., ints] + step
        raw = np.where(frozen, raw0, raw)
        zp = np.where(frozen, z0, z0 + (raw - raw0) / self.std)
        return zp, raw

    def distance(self, z: np.ndarray, z0: np.ndarray) -> np.ndarray:
        dz = np.nan_to_num(np.asarray(z, dtype=float) - z0)
        if self.norm == "inf":
            return np.max(np.abs(dz), axis=-1) if dz.shape[-1] else np.zeros(dz.shape[:-1])
        return np.sqrt(np.sum(dz * dz, axis=-1))


@dataclasses.dataclass
class Block:
    """Rows under attack: the full feature rows plus their attack coordinates."""

    frame: pd.DataFrame
    z0: np.ndarray
    raw0: np.ndarray
    frozen: np.ndarray

    def take(self, idx: np.ndarray) -> Block:
        return Block(self.frame.iloc[idx], self.z0[idx], self.raw0[idx], self.frozen[idx])

    def __len__(self) -> int:
        return len(self.frame)


@dataclasses.dataclass
class AffineView:
    """A model whose input transform is affine in the attacked features: T(z) = T0 + (z - z0) J."""

    kind: Literal["pipeline", "bare", "torch"]
    T0: np.ndarray
    J: np.ndarray
    gradient: bool


def final_estimator(estimator: Any, kind: str) -> Any:
    """The step of ``estimator`` that takes the transformed array (the last one of a pipeline)."""
    return estimator[-1] if kind == "pipeline" else estimator



def standardised(wanted: list[str], reference: pd.DataFrame) -> tuple[list[str], np.ndarray,
                                                                       np.ndarray, list[str]]:
    """The columns that can move (not constant on the reference data), their means and standard
    deviations, and a note for each column left alone."""
    notes = []
    columns, means, stds = [], [], []
    for col in wanted:
        values = pd.to_numeric(reference[col], errors="coerce").to_numpy(dtype=float)
        spread = float(np.nanstd(values)) if np.isfinite(values).any() else float("nan")
        if not (spread > 0 and math.isfinite(spread)):
            notes.append(f"'{col}' is constant on the reference data: not perturbed")
            continue
        columns.append(col)
        means.append(float(np.nanmean(values)))
        stds.append(spread)
    return columns, np.asarray(means), np.asarray(stds), notes


def _numbers(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)


def attack_space(schema: Schema, columns: list[str], mean: np.ndarray, std: np.ndarray, norm: str,
                 reference: pd.DataFrame, evaluation: pd.DataFrame,
                 positions: np.ndarray) -> tuple[AttackSpace, Block, np.ndarray]:
    """The space of ``columns``, the sampled evaluation rows as a :class:`Block`, and the
    reference rows in attack coordinates."""
    frame = evaluation.iloc[positions][schema.features]
    raw0 = _numbers(frame, columns)
    cols = [schema.column(c) for c in columns]
    raw_lo = np.array([c.min if c.min is not None else -np.inf for c in cols], dtype=float)
    raw_hi = np.array([c.max if c.max is not None else np.inf for c in cols], dtype=float)
    integer = np.array([pd.api.types.is_integer_dtype(evaluation[c].dtype)
                        or pd.api.types.is_integer_dtype(reference[c].dtype) for c in columns])
    space = AttackSpace(columns, mean, std, raw_lo, raw_hi, integer, norm)
    z0 = space.to_z(raw0)
    frozen = ~np.isfinite(z0)
    z0 = np.where(frozen, 0.0, z0)
    # The attack box (finite, standardised): the schema range, widened to the sample's values.
    ref_z = space.to_z(_numbers(reference, columns))
    lo = np.where(np.isfinite(raw_lo), space.to_z(raw_lo), np.nanmin(ref_z, axis=0))
    hi = np.where(np.isfinite(raw_hi), space.to_z(raw_hi), np.nanmax(ref_z, axis=0))
    space.lo = np.fmin(lo, np.where(frozen, np.inf, z0).min(axis=0))
    space.hi = np.fmax(hi, np.where(frozen, -np.inf, z0).max(axis=0))
    return space, Block(frame, z0, np.where(frozen, np.nan, raw0), frozen), ref_z
