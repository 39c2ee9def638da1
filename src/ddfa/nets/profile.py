"""Parameter and multiply-accumulate (MAC) counting without third-party profilers."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.pooling import _AdaptiveAvgPoolNd

from .errors import NetError


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter scalars (weights, biases and BN affine terms; BN running stats excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _conv_macs(m: _ConvNd, inp: torch.Tensor, out: torch.Tensor) -> int:
    kernel = math.prod(m.kernel_size)
    if m.transposed:  # every input element is scattered to (out_channels / groups) * kernel outputs
        return inp.numel() * (m.out_channels // m.groups) * kernel
    return out.numel() * (m.in_channels // m.groups) * kernel


def _thop_extra_ops(m: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    if isinstance(m, _BatchNorm):  # subtract + divide, then multiply + add if affine
        return (4 if m.affine else 2) * out.numel()
    window = math.prod(i // o for i, o in zip(inp.shape[2:], out.shape[2:]))
    return out.numel() * (window + 1)  # window adds + one divide per output


def count_macs(
    model: nn.Module,
    input_size: tuple[int, ...] = (1, 3, 120, 120),
    thop_compatible: bool = False,
) -> int:
    """MACs of one ``model(x)`` call on a zero tensor of ``input_size``.

    Counts convolutions (``C_in / groups * k_h * k_w`` per output element) and linear
    layers (``in_features`` per output element); bias adds, BN, activations and pooling
    are not counted. Only modules that actually run in ``forward`` are counted, so a
    training-only head that ``forward`` skips contributes nothing. The total is for the
    whole batch (use batch 1 for per-image MACs).

    ``thop_compatible=True`` also adds 4 ops per affine-BatchNorm element (2 if not
    affine) and ``window + 1`` ops per adaptive-average-pool output, the conventions of
    the ``thop`` profiler (v0.1), which reproduce the 3DDFA_V2 paper's "MACs" figures.
    """
    if len(input_size) < 2 or any(not isinstance(s, int) or s < 1 for s in input_size):
        raise NetError(f"input_size must be positive ints (B, C, ...), got {input_size!r}")
    total = 0

    def hook(m: nn.Module, args: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, _ConvNd):
            total += _conv_macs(m, args[0], out)
        elif isinstance(m, nn.Linear):
            total += out.numel() * m.in_features
        else:
            total += _thop_extra_ops(m, args[0], out)

    counted = (_ConvNd, nn.Linear) + ((_BatchNorm, _AdaptiveAvgPoolNd) if thop_compatible else ())
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, counted)]
    was_training = model.training
    param = next(model.parameters(), None)
    x = torch.zeros(input_size, dtype=torch.float32, device=param.device if param is not None else "cpu")
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total
