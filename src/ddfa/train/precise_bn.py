"""Precise BatchNorm: re-estimate the running statistics with the final weights.

During training, BatchNorm's running mean and variance are an exponential average
(momentum 0.1) over the last ten or so batches, each of only 16 independent faces,
taken with weights that were still moving. This replaces them with an average over a
few thousand crops, computed with the final weights, drawn as training draws them
(cf. "precise BN", Wu & Johnson, arXiv:2105.07576).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from ddfa._optional import require

require("torch", "precise BatchNorm")
import torch
from torch import nn

from ddfa.morphable import FaceModel
from ddfa.train.clips import ClipSynthesizer, Source
from ddfa.train.config import TrainConfig


def batchnorms(net: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer of ``net``."""
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recalibrate_batchnorm(net: nn.Module, source: Source, samples: int = 4096, seed: int = 0,
                          batch: int = 64, synth: ClipSynthesizer | None = None) -> int:
    """Replace every BatchNorm layer's running statistics with their average over about ``samples``
    crops drawn without replacement (seeded) from ``source``, fed in full batches of ``batch``.
    With ``synth``, each crop is the first frame of the training augmentation of its sample
    (seeded per sample); without it, the crop as stored.

    Each batch counts equally (BatchNorm's cumulative average, ``momentum=None``), so ``samples`` is
    rounded down to whole batches. Weights are untouched and the net is left in eval mode.
    Returns the number of crops used.
    """
    layers = batchnorms(net)
    if not layers:
        return 0
    n = min(samples, len(source))
    n = n - n % batch if n >= batch else n
    if n < 2:
        raise ValueError(f"precise BatchNorm needs at least 2 crops, got {n} (source of {len(source)})")
    index = np.random.default_rng(seed).choice(len(source), n, replace=False)  # shuffled: mixed batches
    momenta = [m.momentum for m in layers]
    device = layers[0].running_mean.device
    for m in layers:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    try:
        for s in range(0, n, batch):
            crops = np.stack([_crop(source, int(i), synth, seed) for i in index[s:s + batch]])
            x = torch.from_numpy(crops).permute(0, 3, 1, 2).float().to(device)
            net(x.contiguous(memory_format=torch.channels_last))
    finally:
        for m, momentum in zip(layers, momenta):
            m.momentum = momentum
        net.eval()
    return n


def _crop(source: Source, index: int, synth: ClipSynthesizer | None, seed: int) -> np.ndarray:
    image, params = source.get(index)
    if synth is None:
        return image
    return synth(np.random.default_rng([seed, index]), image, params)[0][0]


def first_frame_synthesizer(cfg: TrainConfig, model: FaceModel | None = None) -> ClipSynthesizer:
    """The training augmentation of ``cfg`` cut to its first frame (no out-of-plane steps needed)."""
    return ClipSynthesizer(dataclasses.replace(cfg.augment, clip_len=1), None, model)


def precise_batchnorm(net: nn.Module, cfg: TrainConfig, samples: int = 4096,
                      cache: str | os.PathLike | None = None) -> int:
    """``recalibrate_batchnorm`` on the training split of ``cache`` (default: the config's), with the
    config's augmentation and seed: the statistics of what the network was trained on, with its final
    weights. Returns the number of crops used."""
    from ddfa.train.sources import CacheSource

    source = CacheSource(cache or cfg.cache, "train")
    return recalibrate_batchnorm(net, source, samples, seed=cfg.seed, synth=first_frame_synthesizer(cfg))
