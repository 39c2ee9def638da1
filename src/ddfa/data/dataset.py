"""A torch ``Dataset`` over a training cache written by :func:`ddfa.data.cache.build_cache`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from ddfa._optional import require

require("torch", "the training dataset")
import torch
from torch.utils.data import Dataset

from ddfa.data.cache import FIELDS, SPLITS
from ddfa.errors import InputError
from ddfa.morphable import Normalizer

__all__ = ["CacheDataset", "load_normalizer"]

# (image (H, W, 3) uint8, params (62,) float32 crop vertex frame, points (68, 2) float32 crop pixels) -> same
Transform = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def load_normalizer(cache_dir: str | os.PathLike) -> Normalizer:
    """The training-split parameter statistics of a cache (``stats.npz``)."""
    path = Path(cache_dir) / "stats.npz"
    if not path.is_file():
        raise InputError(f"{path} not found: build the cache with `ddfa data build --out {cache_dir}`")
    with np.load(path) as z:
        return Normalizer(z["param_mean"], z["param_std"])


class CacheDataset(Dataset):
    """Samples of one split of a training cache, memory-mapped (opened lazily in each process).

    Item ``i`` is a dict of tensors:

    - ``image``: (3, 120, 120) float32 RGB in [0, 255];
    - ``params``: (62,) float32 normalised parameters (``normalizer``; default: the cache's stats.npz);
    - ``points``: (68, 2) float32 landmarks in crop pixels;
    - ``yaw``: () float32 degrees; ``source``: () int64 source-face row of ``fits.npz``.

    ``transform``, if given, maps ``(image HWC uint8, params, points)`` (un-normalised, in the
    crop's vertex frame / pixels) to new ones before conversion, e.g. a 2D augmentation.
    """

    def __init__(self, cache_dir: str | os.PathLike, split: str = "train", normalizer: Normalizer | None = None,
                 transform: Transform | None = None):
        if split not in SPLITS:
            raise InputError(f"split must be one of {SPLITS}, got {split!r}")
        self.cache_dir = Path(cache_dir)
        self.split = split
        missing = [f for f in FIELDS if not self._path(f).is_file()]
        if missing:
            raise InputError(f"{self.cache_dir} is not a complete cache (missing {split}_{missing[0]}.npy); "
                             f"build it with `ddfa data build --out {self.cache_dir}`")
        self.normalizer = normalizer if normalizer is not None else load_normalizer(self.cache_dir)
        self.transform = transform
        self._length = len(np.load(self._path("yaw"), mmap_mode="r"))
        self._arrays: dict | None = None

    def _path(self, field: str) -> Path:
        return self.cache_dir / f"{self.split}_{field}.npy"

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """The split's memory-mapped arrays by field name (see :data:`ddfa.data.cache.FIELDS`)."""
        if self._arrays is None:
            self._arrays = {f: np.load(self._path(f), mmap_mode="r") for f in FIELDS}
        return self._arrays

    def __getstate__(self):  # do not pickle memory maps into DataLoader workers
        state = self.__dict__.copy()
        state["_arrays"] = None
        return state

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not -self._length <= i < self._length:
            raise IndexError(f"index {i} out of range for {self._length} samples")
        a = self.arrays
        image, params, points = np.array(a["images"][i]), np.array(a["params"][i]), np.array(a["points"][i])
        if self.transform is not None:
            image, params, points = self.transform(image, params, points)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)),
            "params": torch.from_numpy(self.normalizer.normalize(params.astype(np.float32))),
            "points": torch.from_numpy(np.asarray(points, dtype=np.float32)),
            "yaw": torch.tensor(float(a["yaw"][i])),
            "source": torch.tensor(int(a["source"][i])),
        }
