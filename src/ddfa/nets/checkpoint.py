"""Regressor checkpoints: network weights + the parameter normaliser + how to rebuild them.

A checkpoint is a ``torch.save`` dict::

    {"format": "ddfa-regressor/1", "arch": "mobilenet_v1", "arch_kwargs": {"width": 1.0},
     "state_dict": ..., "param_mean": (62,), "param_std": (62,), "meta": {...}}

Training checkpoints add ``optimizer``, ``step``, ``epoch`` and RNG states; loading
for inference ignores them. The LRR head's weights are dropped when loading
without ``lrr=True``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ddfa.atomic import atomic_path
from ddfa.morphable.layout import Normalizer
from ddfa.nets.registry import create_model

FORMAT = "ddfa-regressor/1"


@dataclass
class Regressor:
    """A network and the normaliser that turns its outputs into parameters."""

    net: nn.Module
    normalizer: Normalizer
    arch: str
    arch_kwargs: dict
    meta: dict = field(default_factory=dict)

    @torch.inference_mode()
    def __call__(self, crops: torch.Tensor) -> np.ndarray:
        """crops float32 (B, 3, 120, 120) RGB 0..255 -> params (B, 62) float32 (vertex frame)."""
        self.net.eval()
        return self.normalizer.denormalize(self.net(crops).numpy())


def save_checkpoint(path: str | os.PathLike, net: nn.Module, normalizer: Normalizer, arch: str,
                    arch_kwargs: dict, meta: dict | None = None, **training_state) -> Path:
    """Write atomically (temp file, then rename); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "arch": arch, "arch_kwargs": dict(arch_kwargs),
               "state_dict": net.state_dict(), "param_mean": normalizer.mean, "param_std": normalizer.std,
               "meta": meta or {}, **training_state}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw checkpoint dict; raises ModelError with a clear message when missing or corrupt."""
    from ddfa.errors import ModelError

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many kinds on a bad file
        raise ModelError(f"cannot read weights file {path}: {exc}") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ModelError(f"{path} is not a ddfa regressor checkpoint (expected format {FORMAT})")
    return ckpt


def checkpoint_normalizer(path: str | os.PathLike) -> Normalizer:
    """The parameter statistics a checkpoint's outputs are z-scored with."""
    return _normalizer(read_checkpoint(path))


def _normalizer(ckpt: dict) -> Normalizer:
    return Normalizer(np.asarray(ckpt["param_mean"], np.float32), np.asarray(ckpt["param_std"], np.float32))


def load_regressor(path: str | os.PathLike, lrr: bool = False) -> Regressor:
    """Rebuild the network of a checkpoint (LRR head only if ``lrr``) in eval mode."""
    from ddfa.errors import ModelError

    ckpt = read_checkpoint(path)
    net = create_model(ckpt["arch"], **ckpt["arch_kwargs"], lrr=lrr)
    state = ckpt["state_dict"]
    if lrr and not any(k.startswith("lrr") for k in state):
        raise ModelError(f"{path} has no LRR head (it was trained with lrr = false or already stripped)")
    if not lrr:
        state = {k: v for k, v in state.items() if not k.startswith("lrr")}
    net.load_state_dict(state)
    net.eval()
    return Regressor(net, _normalizer(ckpt), ckpt["arch"], ckpt["arch_kwargs"], ckpt.get("meta", {}))


def release_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, keep_lrr: bool = False,
                       precise_bn: int = 0, bn_cache: str | os.PathLike | None = None, **meta) -> Path:
    """Write a copy of a training checkpoint without its optimiser state; ``meta`` is merged in.

    The LRR head is dropped (an inference-only file) unless ``keep_lrr``: then the copy is a warm-start
    point for ``ddfa train``'s ``init_from`` whose landmark head is already trained. ``precise_bn`` > 0
    re-estimates the BatchNorm statistics on that many crops, drawn as the checkpoint's own training
    config draws them, from ``bn_cache`` or the config's cache (``ddfa.train.precise_bn``).
    """
    reg = load_regressor(src, lrr=keep_lrr)
    if precise_bn > 0:
        from ddfa.errors import ModelError
        from ddfa.train.config import TrainConfig
        from ddfa.train.precise_bn import precise_batchnorm

        if "config" not in reg.meta:
            raise ModelError(f"{src} records no training config to draw precise-BatchNorm crops with")
        cfg = TrainConfig(**reg.meta["config"])
        used = precise_batchnorm(reg.net, cfg, precise_bn, bn_cache)
        meta = {"precise_bn": {"samples": used, "cache": str(bn_cache or cfg.cache)}, **meta}
    return save_checkpoint(dst, reg.net, reg.normalizer, reg.arch, reg.arch_kwargs, meta={**reg.meta, **meta})
