"""Average the weights of regressor checkpoints fine-tuned from one start (a uniform "model soup").

    python scripts/average_weights.py OUT.pt A.pt B.pt [C.pt ...] [--cache ../cache_ytf] [--precise-bn 4096]

Every floating-point tensor of the networks is averaged (the files must share architecture and parameter
statistics); BatchNorm statistics are then re-estimated on ``--precise-bn`` crops drawn as the first file's
training config draws them (``ddfa.train.precise_bn``), since averaged running statistics do not describe
the averaged weights. The result is a ``.pt`` file for ``ddfa eval``, ``benchmarks/compare_networks.py`` or
``ddfa export onnx``. Measured in docs/training/more_faces_and_clip_loss.md (stage-12 soups).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from ddfa.nets.checkpoint import load_regressor, save_checkpoint
from ddfa.train.config import TrainConfig
from ddfa.train.precise_bn import precise_batchnorm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("output")
    ap.add_argument("weights", nargs="+", help="two or more .pt regressor files")
    ap.add_argument("--cache", default=None, help="cache for the BatchNorm crops (default: the config's)")
    ap.add_argument("--precise-bn", type=int, default=4096, metavar="N")
    args = ap.parse_args()
    if len(args.weights) < 2:
        ap.error("give at least two weights files")

    regs = [load_regressor(w) for w in args.weights]
    first = regs[0]
    for w, r in zip(args.weights[1:], regs[1:]):
        if (r.arch, r.arch_kwargs) != (first.arch, first.arch_kwargs) or not (
                np.allclose(r.normalizer.mean, first.normalizer.mean) and np.allclose(r.normalizer.std, first.normalizer.std)):
            ap.error(f"{w} differs from {args.weights[0]} in architecture or parameter statistics")
    states = [r.net.state_dict() for r in regs]
    first.net.load_state_dict({k: torch.stack([s[k].float() for s in states]).mean(0).to(v.dtype)
                               if v.is_floating_point() else v for k, v in states[0].items()})
    if "config" not in first.meta:
        ap.error(f"{args.weights[0]} records no training config to draw BatchNorm crops with")
    used = precise_batchnorm(first.net, TrainConfig(**first.meta["config"]), args.precise_bn, args.cache)
    save_checkpoint(args.output, first.net, first.normalizer, first.arch, first.arch_kwargs,
                    meta={**first.meta, "averaged": list(args.weights), "precise_bn": {"samples": used}})
    print(f"wrote {args.output}: the mean of {len(regs)} networks, BatchNorm re-estimated on {used} crops")


if __name__ == "__main__":
    main()
