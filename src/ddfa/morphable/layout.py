"""The 62-d parameter layout ``[T (3x4, row-major) | a_id (40) | a_exp (10)]``.

This module is the single source of truth for slicing parameter vectors: code
outside ``ddfa.morphable`` must use these helpers instead of literal slices.
All functions accept numpy arrays or torch tensors with any leading batch shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_POSE = 12
N_ID = 40
N_EXP = 10
N_SHAPE = N_ID + N_EXP
N_PARAMS = N_POSE + N_SHAPE

POSE = slice(0, N_POSE)
ID = slice(N_POSE, N_POSE + N_ID)
EXP = slice(N_POSE + N_ID, N_PARAMS)
SHAPE = slice(N_POSE, N_PARAMS)


def _check(p):
    if p.shape[-1] != N_PARAMS:
        raise ValueError(f"expected {N_PARAMS} parameters in the last axis, got shape {tuple(p.shape)}")


def pose_matrix(p):
    """(..., 62) -> T (..., 3, 4): the similarity ``f [R | t]``."""
    _check(p)
    return p[..., POSE].reshape(*p.shape[:-1], 3, 4)


def shape_coeffs(p):
    """(..., 62) -> a (..., 50): identity then expression coefficients."""
    _check(p)
    return p[..., SHAPE]


def id_coeffs(p):
    """(..., 62) -> a_id (..., 40)."""
    _check(p)
    return p[..., ID]


def exp_coeffs(p):
    """(..., 62) -> a_exp (..., 10)."""
    _check(p)
    return p[..., EXP]


def join(T, a):
    """T (..., 3, 4) and a (..., 50) -> p (..., 62). Works for numpy and torch."""
    flat = T.reshape(*T.shape[:-2], N_POSE)
    if isinstance(flat, np.ndarray):
        return np.concatenate([flat, a], axis=-1)
    import torch

    return torch.cat([flat, a], dim=-1)


@dataclass(frozen=True)
class Normalizer:
    """Z-score normalisation ``p_n = (p - mean) / std`` of 62-d parameters.

    ``mean`` and ``std`` are float32 (62,), taken from a training set.
    """

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self):
        for name in ("mean", "std"):
            v = getattr(self, name)
            if v.shape != (N_PARAMS,):
                raise ValueError(f"Normalizer.{name} must have shape ({N_PARAMS},), got {v.shape}")
        if not np.all(self.std > 0):
            raise ValueError("Normalizer.std must be positive")

    @classmethod
    def fit(cls, params: np.ndarray, eps: float = 1e-6) -> "Normalizer":
        """Statistics of a (M, 62) array of parameters."""
        params = np.asarray(params, dtype=np.float64)
        return cls(params.mean(0).astype(np.float32), (params.std(0) + eps).astype(np.float32))

    @classmethod
    def identity(cls) -> "Normalizer":
        return cls(np.zeros(N_PARAMS, np.float32), np.ones(N_PARAMS, np.float32))

    def _stats(self, like):
        if isinstance(like, np.ndarray):
            return self.mean.astype(like.dtype), self.std.astype(like.dtype)
        import torch

        return (torch.as_tensor(self.mean, dtype=like.dtype, device=like.device),
                torch.as_tensor(self.std, dtype=like.dtype, device=like.device))

    def normalize(self, p):
        _check(p)
        mean, std = self._stats(p)
        return (p - mean) / std

    def denormalize(self, p_n):
        _check(p_n)
        mean, std = self._stats(p_n)
        return p_n * std + mean

    def to_dict(self) -> dict[str, np.ndarray]:
        return {"param_mean": self.mean, "param_std": self.std}
