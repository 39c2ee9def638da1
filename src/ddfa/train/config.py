"""Typed training configuration, read from a TOML file (``ddfa train --config FILE``)."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ddfa.errors import InputError
from ddfa.train.accel import DEVICES

LOSSES = ("vdc", "wpdc", "fwpdc", "vanilla-joint", "meta-joint")


@dataclass
class AugmentConfig:
    """Online augmentation. The first frame of every sample gets a random in-plane similarity;
    with ``video`` on, each sample becomes a clip of ``clip_len`` frames, each moved from the last by
    a small similarity (and a small out-of-plane rotation by face profiling), plus noise and blur.
    With ``appearance`` > 0, that share of samples also gets one random camera look (all its frames)."""

    scale: float = 0.08  # first frame: relative scale jitter (uniform +-)
    angle: float = 12.0  # degrees
    recrop: bool = False  # frame the rotated face as the crop policy frames its landmark box (then jitter)
    shift: float = 0.06  # fraction of the crop size
    video: bool = True
    clip_len: int = 4
    step_scale: float = 0.02
    step_angle: float = 3.0
    step_shift: float = 0.015
    step_yaw: float = 3.0  # out-of-plane step in degrees (0 disables profiling)
    step_pitch: float = 1.5
    oop_prob: float = 0.3  # share of clips that get the (costlier) out-of-plane steps
    noise: float = 4.0  # max Gaussian noise sigma, grey levels
    blur: float = 5.0  # max motion blur length, pixels
    appearance: float = 0.0  # share of clips given a random camera look (colour, contrast, low resolution, JPEG)
    appearance_strength: float = 1.0  # scales the colour and contrast ranges (ddfa.data.augment.random_appearance)
    downscale: float = 3.0  # max low-resolution factor of such a clip
    jpeg: int = 30  # min JPEG quality of such a clip (0: no re-encoding)
    occlusion: float = 0.0  # share of clips given one synthetic occluder (ddfa.data.occlusion), same in all frames


@dataclass
class TrainConfig:
    cache: str
    out: str
    arch: str = "mobilenet_v1"
    width: float = 1.0
    loss: str = "meta-joint"
    beta: float = 0.5  # vanilla-joint weight of fWPDC
    meta_k: int = 100  # look-ahead steps per loss in meta-joint
    lrr: bool = True
    optimizer: str = "adamw"  # adamw | sgd (the paper; needs a tuned lr per loss)
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # cosine | constant
    warmup_steps: int = 200
    epochs: int = 10
    max_steps: int = 0  # > 0 caps the run (a training budget), whatever ``epochs`` says
    batch_size: int = 128  # global, across processes, in frames
    seed: int = 0
    threads: int = 2
    workers: int = 1
    freeze_bn: bool = False  # BatchNorm in eval mode (exact DDP equivalence on CPU)
    init_from: str = ""  # start from these weights (e.g. VDC fine-tuned from fWPDC)
    val_batches: int = 0  # 0 = the whole validation split
    precise_bn: int = 0  # > 0: before each validation, re-estimate BatchNorm statistics on this many crops
    pretrained: bool = False  # start the backbone from the ImageNet weights its arch ships (efficientnet_lite0)
    teacher: str = ""  # distillation: a checkpoint whose network labels every augmented frame (ddfa.train.distill)
    distill: float = 0.0  # weight of the loss against the teacher's params, added to the loss against the labels
    device: str = "cpu"  # cpu | cuda | auto (CUDA when available)
    amp: bool = False  # bf16 autocast of the network forward passes on CUDA (ignored on the CPU)
    time_budget: float = 0.0  # > 0: seconds for this run; the step count is sized after a warm-up to fit
    temporal: float = 0.0  # > 0: add the clip loss on frame-to-frame landmark offsets, at this share of the main loss
    ema: float = 0.0  # > 0: also keep an exponential moving average of the weights, this decay per step; validation
    # and best.pt then use the average (BatchNorm statistics re-estimated by precise_bn)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise InputError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.optimizer not in ("sgd", "adamw"):
            raise InputError(f"optimizer must be sgd or adamw, got {self.optimizer!r}")
        if self.schedule not in ("cosine", "constant"):
            raise InputError(f"schedule must be cosine or constant, got {self.schedule!r}")
        if self.batch_size < 1 or self.epochs < 1 or self.meta_k < 1 or not 0 <= self.beta <= 1:
            raise InputError("batch_size, epochs and meta_k must be >= 1 and beta in [0, 1]")
        if self.device not in DEVICES:
            raise InputError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.distill < 0 or self.time_budget < 0:
            raise InputError("distill and time_budget must be >= 0")
        if not 0 <= self.ema < 1:
            raise InputError(f"ema must lie in [0, 1) (a decay per step; 0 = off), got {self.ema}")
        if bool(self.teacher) != (self.distill > 0):
            raise InputError("distillation needs both teacher = \"<weights file>\" and distill > 0")
        if isinstance(self.augment, dict):
            self.augment = _build(AugmentConfig, self.augment, "augment")
        clip = self.augment.clip_len if self.augment.video else 1
        if self.temporal < 0 or (self.temporal > 0 and clip < 2):
            raise InputError(f"temporal must be >= 0 and needs video clips of >= 2 frames, got {self.temporal}")
        if not 0 <= self.augment.occlusion <= 1:
            raise InputError(f"augment.occlusion must lie in [0, 1], got {self.augment.occlusion}")
        if self.batch_size % clip:
            raise InputError(f"batch_size {self.batch_size} must be a multiple of the clip length {clip}")

    @classmethod
    def from_toml(cls, path: str | Path, **overrides) -> "TrainConfig":
        path = Path(path)
        if not path.is_file():
            raise InputError(f"config file not found: {path}")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{path}: invalid TOML: {exc}") from exc
        data.update({k: v for k, v in overrides.items() if v is not None})
        return _build(cls, data, str(path))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _build(cls, data: dict, where: str):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise InputError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise InputError(f"{where}: {exc}") from exc
