"""Training sources read from a dataset cache built by ``ddfa data build``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ddfa.errors import InputError
from ddfa.morphable import Normalizer
from ddfa.morphable.frames import CROP_SIZE

_CROP_AFFINE = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # a crop is its own image


class CacheSource:
    """One split of a cache: ``get(i)`` -> (crop (120, 120, 3) uint8, params (62,) float32, vertex frame).

    Arrays are memory-mapped, so worker processes share the pages."""

    def __init__(self, cache: str | os.PathLike, split: str):
        root = Path(cache)
        path = root / f"{split}_images.npy"
        if not path.is_file():
            raise InputError(f"{root} holds no consolidated '{split}' split ({path.name} missing): "
                             f"build it with `ddfa data build --out {root}`")
        self.images = np.load(path, mmap_mode="r")
        self.params = np.load(root / f"{split}_params.npy", mmap_mode="r")

    def __len__(self) -> int:
        return len(self.params)

    def get(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self.images[index]), np.array(self.params[index])


def cache_normalizer(cache: str | os.PathLike) -> Normalizer:
    """The training split's parameter statistics (``stats.npz`` of the cache)."""
    path = Path(cache) / "stats.npz"
    if not path.is_file():
        raise InputError(f"parameter statistics not found: {path} (build the cache with `ddfa data build`)")
    with np.load(path) as z:
        return Normalizer(z["param_mean"].astype(np.float32), z["param_std"].astype(np.float32))


def profiling_step(image: np.ndarray, params: np.ndarray, d_yaw: float, d_pitch: float):
    """Out-of-plane move of a crop and its vertex-frame params by face profiling (for clip synthesis)."""
    from ddfa.data.profile import params_to_crop, params_to_image, profile

    new_image, new_params = profile(image, params_to_image(params, _CROP_AFFINE, CROP_SIZE), d_yaw, d_pitch)
    return new_image, params_to_crop(new_params, _CROP_AFFINE, CROP_SIZE)
