"""The training loop: losses, meta-joint optimisation, LRR, checkpoints, validation, DDP; distillation
(:mod:`ddfa.train.distill`), device, bf16 autocast and time-sized schedules (:mod:`ddfa.train.accel`).

Run it with ``ddfa train --config FILE`` (one process) or
``torchrun --nproc_per_node N -m ddfa.cli.main train --config FILE`` (DDP; gloo on CPU,
nccl on GPUs). ``batch_size`` is global: every optimiser step sees the same frames
whatever the number of processes, each process taking an equal slice.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ddfa._optional import require

require("torch", "training")
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from ddfa.losses import FWPDC, VDC, WPDC, LandmarkRegression, TemporalOffsets
from ddfa.morphable import FaceModel, Normalizer
from ddfa.morphable.frames import CROP_SIZE
from ddfa.nets import create_model
from ddfa.nets.checkpoint import read_checkpoint, save_checkpoint
from ddfa.errors import InputError
from ddfa.train.accel import StepBudget, autocast, resolve_device
from ddfa.train.clips import ClipSynthesizer, OutOfPlane, Source
from ddfa.train.config import TrainConfig
from ddfa.train.distill import Teacher
from ddfa.train.precise_bn import batchnorms, first_frame_synthesizer, recalibrate_batchnorm


class ClipDataset(torch.utils.data.Dataset):
    """Source samples expanded into augmented clips; item i of epoch e uses the seed (seed, e, i)."""

    def __init__(self, source: Source, synth: ClipSynthesizer, seed: int):
        self.source, self.synth, self.seed, self.epoch = source, synth, seed, 0

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, self.epoch, i])
        images, params = self.synth(rng, *self.source.get(i))
        return torch.from_numpy(images), torch.from_numpy(params)


class GlobalBatchSampler(torch.utils.data.Sampler):
    """Seeded per-epoch permutation cut into global batches of ``clips`` items; yields this rank's slice."""

    def __init__(self, n: int, clips: int, seed: int, rank: int = 0, world: int = 1):
        if clips % world:
            raise ValueError(f"{clips} clips per batch cannot be split over {world} processes")
        self.n, self.clips, self.seed, self.rank, self.world = n, clips, seed, rank, world
        self.epoch, self.skip = 0, 0

    def __len__(self) -> int:
        return self.n // self.clips - self.skip

    def __iter__(self):
        perm = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        per = self.clips // self.world
        for b in range(self.skip, self.n // self.clips):
            batch = perm[b * self.clips:(b + 1) * self.clips]
            yield batch[self.rank * per:(self.rank + 1) * per].tolist()


def _collate(items):
    images = torch.cat([i for i, _ in items]).permute(0, 3, 1, 2).float()
    return images, torch.cat([p for _, p in items])


class _WithLRR(nn.Module):
    """Makes ``forward`` return both heads, so DDP wraps the training forward."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.forward_with_lrr(x)


def _all_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean of a scalar over processes (identity without DDP)."""
    if dist.is_available() and dist.is_initialized():
        x = x.detach().clone()
        dist.all_reduce(x)
        x /= dist.get_world_size()
    return x


def _balanced(main, other):
    """``(|main| / |other|) * other`` with both magnitudes averaged over processes (cf. losses.balanced)."""
    return (_all_mean(main.detach()).abs() / _all_mean(other.detach()).abs().clamp_min(1e-12)) * other


@dataclass
class Validation:
    nme: float  # mean 68-point NME (%) by the GT box
    vdc: float


class Trainer:
    def __init__(self, cfg: TrainConfig, train: Source, val: Source | None, normalizer: Normalizer,
                 out_of_plane: OutOfPlane | None = None, model: FaceModel | None = None):
        self.cfg = cfg
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        # a group this trainer starts, it also ends (close()): gloo's threads abort the process
        # when the interpreter tears an open group down
        self._owns_group = self.distributed and not dist.is_initialized()
        if self._owns_group:
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.device = resolve_device(cfg.device)
        if self.distributed and self.device.type == "cuda":
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.normalizer = normalizer
        self.face = model or FaceModel.load()
        self.tm = self.face.torch(device=self.device)
        self.mean = torch.from_numpy(normalizer.mean).to(self.device)
        self.std = torch.from_numpy(normalizer.std).to(self.device)
        self.losses = {"vdc": VDC(self.tm), "wpdc": WPDC(self.tm, normalizer.std).to(self.device),
                       "fwpdc": FWPDC(self.tm, normalizer.std).to(self.device)}
        self.lrr_loss = LandmarkRegression()

        self.arch_kwargs = {"width": cfg.width}
        self.net = create_model(cfg.arch, **self.arch_kwargs, lrr=cfg.lrr)
        if cfg.pretrained:
            if not hasattr(self.net, "load_imagenet_weights"):
                raise InputError(f"pretrained = true: arch {cfg.arch!r} has no ImageNet weights (efficientnet_lite0 has)")
            self.net.load_imagenet_weights()
        if cfg.init_from:
            state = read_checkpoint(cfg.init_from)["state_dict"]
            self.net.load_state_dict(state, strict=False)
        # NHWC weights: batches arrive NHWC (a permuted uint8 stack); 1.3-2x faster on CPU
        self.net = self.net.to(self.device, memory_format=torch.channels_last)
        if cfg.teacher and not Path(cfg.teacher).is_file():
            raise InputError(f"teacher weights file not found: {cfg.teacher}")
        self.teacher = Teacher(cfg.teacher, self.device, cfg.amp) if cfg.teacher else None
        self.model = _WithLRR(self.net) if cfg.lrr else self.net
        if self.distributed:
            self.model = nn.parallel.DistributedDataParallel(self.model)
        params = [p for p in self.net.parameters() if p.requires_grad]
        if cfg.optimizer == "sgd":
            self.opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                                       nesterov=True)
        else:
            self.opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

        synth = ClipSynthesizer(cfg.augment, out_of_plane, self.face)
        self.clip_len = synth.length
        self.temporal = TemporalOffsets(self.clip_len) if cfg.temporal > 0 else None
        self.dataset = ClipDataset(train, synth, cfg.seed)
        self.sampler = GlobalBatchSampler(len(train), cfg.batch_size // self.clip_len, cfg.seed, self.rank, self.world)
        self.val = val
        steps_per_epoch = len(train) // (cfg.batch_size // self.clip_len)
        if steps_per_epoch < 1:
            raise ValueError(f"the training set ({len(train)} samples) is smaller than one batch")
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = cfg.max_steps or cfg.epochs * steps_per_epoch
        self.step, self.epoch, self.best = 0, 0, math.inf
        self.log_path = self.out / "log.jsonl"
        # the moving average of the weights (cfg.ema), on the device, in the net's state-dict layout
        self.ema = {k: v.detach().clone() for k, v in self.net.state_dict().items()} if cfg.ema > 0 else None

    # --- one optimiser step ------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        c = self.cfg
        if step < c.warmup_steps:
            return c.lr * (step + 1) / c.warmup_steps
        if c.schedule == "constant":
            return c.lr
        t = (step - c.warmup_steps) / max(1, self.total_steps - c.warmup_steps)
        return 0.5 * c.lr * (1 + math.cos(math.pi * min(1.0, t)))

    def _prepare(self, batch):
        """(images, params) from the loader -> on the device, plus the teacher's params when distilling."""
        images, target = (t.to(self.device, non_blocking=True) for t in batch)
        images = images.contiguous(memory_format=torch.channels_last)
        return (images, target) if self.teacher is None else (images, target, self.teacher(images))

    def _param_loss(self, kind: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if kind == "vanilla-joint":
            f, v = self.losses["fwpdc"](pred, target), self.losses["vdc"](pred, target)
            return self.cfg.beta * f + (1 - self.cfg.beta) * _balanced(f, v)
        return self.losses[kind](pred, target)

    def loss(self, kind: str, images: torch.Tensor, target: torch.Tensor,
             teacher: torch.Tensor | None = None) -> torch.Tensor:
        """The training loss ``kind`` of a batch; target (and teacher) params are raw (vertex frame)."""
        self.model.train()
        if self.cfg.freeze_bn:
            for m in batchnorms(self.net):
                m.eval()
        with autocast(self.device, self.cfg.amp):
            out = self.model(images)
        pred_n, lm = (o.float() for o in out) if self.cfg.lrr else (out.float(), None)
        pred = pred_n * self.std + self.mean
        main = self._param_loss(kind, pred, target)
        if teacher is not None:
            main = main + self.cfg.distill * self._param_loss(kind, pred, teacher)
        total = main
        if self.cfg.lrr or self.temporal is not None:
            pts = self.tm.vertices(target, dense=False)[..., :2]
            pts = (pts - (CROP_SIZE - 1) / 2) / (CROP_SIZE / 2)
        if self.temporal is not None:  # frame-to-frame motion of the 68 points, predicted vs true
            moved = (self.tm.vertices(pred, dense=False)[..., :2] - (CROP_SIZE - 1) / 2) / (CROP_SIZE / 2)
            total = total + self.cfg.temporal * _balanced(main, self.temporal(moved, pts))
        if self.cfg.lrr:
            total = total + _balanced(main, self.lrr_loss(lm, pts))
        return total

    def update_ema(self, steps: int) -> None:
        """Move the weight average towards the current weights after ``steps`` optimiser steps
        (decay ``cfg.ema ** steps``); integer buffers (BatchNorm's step counts) are copied."""
        if self.ema is None:
            return
        share = 1.0 - self.cfg.ema ** steps
        with torch.no_grad():
            for k, v in self.net.state_dict().items():
                if v.is_floating_point():
                    self.ema[k].lerp_(v, share)
                else:
                    self.ema[k].copy_(v)

    @contextlib.contextmanager
    def averaged_weights(self):
        """Inside the block the net holds the weight average (when ``cfg.ema`` > 0); restored after."""
        if self.ema is None:
            yield
            return
        current = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
        self.net.load_state_dict(self.ema)
        try:
            yield
        finally:
            self.net.load_state_dict(current)

    def sgd_step(self, kind: str, images, target, teacher=None) -> float:
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(self.step)
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(kind, images, target, teacher)
        loss.backward()
        self.opt.step()
        self.step += 1
        return float(_all_mean(loss.detach()))

    # --- meta-joint (Algorithm 1) ------------------------------------------------------
    def meta_joint_round(self, batches: list, test) -> tuple[str, float, dict]:
        """k look-ahead steps with fWPDC and with VDC from the same weights; keep the one with the
        lower VDC on the disjoint meta-test batch. Returns (winner, its mean train loss, test VDCs)."""
        start = (copy.deepcopy(self.net.state_dict()), copy.deepcopy(self.opt.state_dict()), self.step)
        results = {}
        for kind in ("fwpdc", "vdc"):
            self.net.load_state_dict(start[0])
            self.opt.load_state_dict(start[1])
            self.step = start[2]
            train_loss = float(np.mean([self.sgd_step(kind, *b) for b in batches]))
            test_vdc = self.evaluate_vdc(*test)
            results[kind] = (test_vdc, train_loss, copy.deepcopy(self.net.state_dict()),
                             copy.deepcopy(self.opt.state_dict()))
        winner = min(results, key=lambda k: results[k][0])
        self.net.load_state_dict(results[winner][2])
        self.opt.load_state_dict(results[winner][3])
        return winner, results[winner][1], {k: r[0] for k, r in results.items()}

    @torch.no_grad()
    def evaluate_vdc(self, images, target, teacher=None) -> float:
        self.net.eval()
        with autocast(self.device, self.cfg.amp):
            out = self.net(images)
        pred = out.float() * self.std + self.mean
        return float(_all_mean(self.losses["vdc"](pred, target)))

    # --- validation --------------------------------------------------------------------
    @torch.no_grad()
    def validate(self, batch: int = 128) -> Validation | None:
        if self.val is None or len(self.val) == 0:
            return None
        self.net.eval()
        n = len(self.val) if not self.cfg.val_batches else min(len(self.val), self.cfg.val_batches * batch)
        nmes, vdcs = [], []
        for s in range(0, n, batch):
            imgs, params = zip(*(self.val.get(i) for i in range(s, min(n, s + batch))))
            images = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().to(self.device)
            target = torch.from_numpy(np.stack(params)).to(self.device)
            pred = self.net(images) * self.std + self.mean
            p = self.tm.vertices(pred, dense=False)[..., :2]
            g = self.tm.vertices(target, dense=False)[..., :2]
            span = g.amax(1) - g.amin(1)
            nmes.append(((p - g).norm(dim=-1).mean(1) / span.prod(-1).sqrt()).cpu().numpy())
            vdcs.append(float(self.losses["vdc"](pred, target)) * len(imgs))
        return Validation(float(np.concatenate(nmes).mean() * 100), float(np.sum(vdcs) / n))

    # --- checkpoints -------------------------------------------------------------------
    def save(self, path: Path, **extra) -> None:
        if self.rank:
            return
        save_checkpoint(path, self.net, self.normalizer, self.cfg.arch, self.arch_kwargs,
                        meta={"config": self.cfg.to_dict(), **extra}, optimizer=self.opt.state_dict(),
                        step=self.step, epoch=self.epoch, batch_in_epoch=self.sampler_pos, best=self.best,
                        total_steps=self.total_steps, ema=self.ema)

    def resume(self) -> bool:
        path = self.out / "last.pt"
        if not path.is_file():
            return False
        ckpt = read_checkpoint(path)
        self.net.load_state_dict(ckpt["state_dict"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.step, self.epoch, self.best = ckpt["step"], ckpt["epoch"], ckpt["best"]
        if self.ema is not None:  # a run that started without an average starts it from the resumed weights
            self.ema = {k: v.to(self.device) for k, v in (ckpt.get("ema") or self.net.state_dict()).items()}
        if self.cfg.time_budget > 0:  # a time-sized schedule stays as sized
            self.total_steps = ckpt.get("total_steps", self.total_steps)
        self.sampler.skip = ckpt["batch_in_epoch"]
        return True

    def _log(self, **row) -> None:
        if self.rank == 0:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(row) + "\n")

    # --- the loop ------------------------------------------------------------------------
    def _validate_and_keep_best(self, **row) -> Validation | None:
        """Validate the current weights (with ``ema``, their average), log the row and save ``best.pt`` if
        they beat the best so far. With ``precise_bn``, the BatchNorm statistics are re-estimated first
        (training-mode steps are unaffected: they normalise by batch statistics)."""
        row = {"epoch": self.epoch, "step": self.step, **row}
        with self.averaged_weights():
            if self.cfg.precise_bn > 0:
                recalibrate_batchnorm(self.net, self.dataset.source, self.cfg.precise_bn, seed=self.cfg.seed,
                                      synth=first_frame_synthesizer(self.cfg, self.face))
            result = self.validate()
            if result is not None:
                row.update(val_nme=result.nme, val_vdc=result.vdc)
                if result.nme < self.best:
                    self.best = result.nme
                    self.save(self.out / "best.pt", val_nme=result.nme)
        self._log(**row)
        return result

    def __enter__(self) -> "Trainer":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:  # after an error, peers may never reach the barrier: torchrun ends them all
            self.close()

    def close(self) -> None:
        """End the process group this trainer started (a no-op otherwise); call it once training is done."""
        if self._owns_group and dist.is_initialized():
            if isinstance(self.model, nn.parallel.DistributedDataParallel):
                self.model = self.model.module  # its reducer holds the group: free it while Python is alive
                gc.collect()
            dist.barrier()  # no process tears its connections down while a peer still uses them
            dist.destroy_process_group()
        self._owns_group = False

    def fit(self, save_every: int = 50, show_progress: bool = True, stop_after: int = 0) -> Validation | None:
        """Train to the end of the schedule, or pause once ``stop_after`` > 0 steps are done (the
        schedule still spans ``total_steps``; a later ``resume`` carries on). Returns the last validation."""
        cfg = self.cfg
        end = min(self.total_steps, stop_after) if stop_after > 0 else self.total_steps
        result = None
        self.sampler_pos = self.sampler.skip
        budget = StepBudget(cfg.time_budget) if cfg.time_budget > 0 and self.step == 0 else None
        while self.step < end:
            self.dataset.epoch = self.sampler.epoch = self.epoch
            loader = torch.utils.data.DataLoader(self.dataset, batch_sampler=self.sampler, collate_fn=_collate,
                                                 num_workers=cfg.workers, persistent_workers=False)
            it = iter(loader)
            bar = tqdm(total=len(self.sampler), desc=f"epoch {self.epoch}", disable=not show_progress or self.rank,
                       dynamic_ncols=True)
            t0 = time.time()
            while self.step < end:
                if cfg.loss == "meta-joint":
                    batches = [self._prepare(b) for _, b in zip(range(cfg.meta_k + 1), it)]
                    if len(batches) < 2:
                        break
                    winner, loss, test = self.meta_joint_round(batches[:-1], batches[-1])
                    self.update_ema(len(batches) - 1)
                    used = len(batches)
                    self._log(step=self.step, epoch=self.epoch, loss=loss, winner=winner,
                              test_vdc_fwpdc=test["fwpdc"], test_vdc_vdc=test["vdc"], lr=self.lr_at(self.step))
                    bar.set_postfix(loss=f"{loss:.4g}", win=winner)
                else:
                    batch = next(it, None)
                    if batch is None:
                        break
                    loss = self.sgd_step(cfg.loss, *self._prepare(batch))
                    self.update_ema(1)
                    used = 1
                    self._log(step=self.step, epoch=self.epoch, loss=loss, lr=self.lr_at(self.step))
                    bar.set_postfix(loss=f"{loss:.4g}")
                bar.update(used)
                sized = budget.update(self.step, self.total_steps) if budget is not None else None
                if sized is not None:
                    if self.distributed:  # every process must stop at the same step
                        t = torch.tensor(sized, device=self.device)
                        dist.all_reduce(t, op=dist.ReduceOp.MIN)
                        sized = int(t)
                    self.total_steps = sized
                    end = min(sized, stop_after) if stop_after > 0 else sized
                    self._log(step=self.step, sized_total_steps=sized, sec_per_step=budget.sec_per_step)
                self.sampler_pos += used
                if save_every and self.sampler_pos % save_every < used:
                    self.save(self.out / "last.pt")
            bar.close()
            if self.sampler_pos < self.sampler.n // self.sampler.clips and self.step >= end:
                if self.step >= self.total_steps:
                    # the schedule ended mid-epoch: its last (annealed) weights are a candidate for best.pt too
                    result = self._validate_and_keep_best()
                break  # budget (or the pause) reached mid-epoch
            self.epoch += 1
            self.sampler.skip = self.sampler_pos = 0
            result = self._validate_and_keep_best(epoch_seconds=time.time() - t0)
            self.save(self.out / "last.pt")
        if result is None:
            with self.averaged_weights():
                result = self.validate()
        self.save(self.out / "last.pt")
        if not (self.out / "best.pt").exists():
            with self.averaged_weights():
                self.save(self.out / "best.pt", val_nme=None if result is None else result.nme)
        return result
