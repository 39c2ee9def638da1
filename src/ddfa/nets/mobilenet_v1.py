"""MobileNetV1 regressor of the 62 3DMM parameters (3DDFA_V2 backbone).

Input contract: ``float32 (B, 3, H, W)`` RGB pixel values in ``[0, 255]``
(an RGB uint8 crop cast to float, channels first; the paper uses H = W = 120).
The network normalises internally with ``(x - 127.5) / 128`` as a fixed,
non-trainable first layer, so exported graphs (ONNX) take raw pixel values too.

Output: ``float32 (B, num_outputs)`` — the regressed parameter vector, in
whatever (typically standardised) space the training targets were in.

The optional landmark-regression-regularisation (LRR) head is a linear layer
on the same globally pooled features that predicts ``2 * num_landmarks``
numbers (68 2D landmarks, ``x0, y0, x1, y1, ...``).  It is a training-time
auxiliary: ``forward`` never evaluates it (so inference,
MAC counts and exports ignore it); :meth:`ParamRegressor.forward_with_lrr`
returns both heads.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import ParamRegressor, check_head_args
from .errors import NetError
from .registry import register_model

PIXEL_MEAN = 127.5
PIXEL_STD = 128.0

STEM_CHANNELS = 32
# (output channels, stride) of the 13 depthwise-separable blocks (Howard et al. 2017, Table 1).
BLOCK_PLAN: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)


class PixelNormalize(nn.Module):
    """Fixed ``(x - mean) / std`` on raw pixel values; no trainable or saved state."""

    def __init__(self, mean: float = PIXEL_MEAN, std: float = PIXEL_STD) -> None:
        super().__init__()
        self.mean = mean
        self.std = std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean}, std={self.std}"


def _conv_bn_relu(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class DepthwiseSeparable(nn.Sequential):
    """Depthwise 3x3 (stride s) + BN + ReLU, then pointwise 1x1 + BN + ReLU."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__(
            _conv_bn_relu(cin, cin, 3, stride, groups=cin),
            _conv_bn_relu(cin, cout, 1, 1),
        )


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


class MobileNetV1(ParamRegressor):
    """MobileNetV1 with a global-average-pooled linear regression head.

    Args:
        width: channel multiplier (the paper uses 1.0 and 0.5).
        num_outputs: size of the regressed parameter vector (62 in 3DDFA_V2).
        lrr: add the training-only LRR landmark head (``lrr_head``).
        num_landmarks: landmarks predicted by the LRR head (68 -> 136 outputs).
    """

    def __init__(
        self,
        width: float = 1.0,
        num_outputs: int = 62,
        lrr: bool = False,
        num_landmarks: int = 68,
    ) -> None:
        super().__init__()
        if not (isinstance(width, (int, float)) and width > 0):
            raise NetError(f"width must be a positive number, got {width!r}")
        check_head_args(num_outputs, lrr, num_landmarks)
        self.width = float(width)
        self.num_outputs = num_outputs
        self.num_landmarks = num_landmarks

        cin = _scaled(STEM_CHANNELS, width)
        layers: list[nn.Module] = [PixelNormalize(), _conv_bn_relu(3, cin, 3, 2)]
        for cout, stride in BLOCK_PLAN:
            cout = _scaled(cout, width)
            layers.append(DepthwiseSeparable(cin, cout, stride))
            cin = cout
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(1)]
        self.features = nn.Sequential(*layers)
        self.num_features = cin
        self.head = nn.Linear(cin, num_outputs)
        self.lrr_head = nn.Linear(cin, 2 * num_landmarks) if lrr else None
        self._init_weights("fan_in")  # fan_in (not fan_out) is also right for depthwise convs


@register_model("mobilenet_v1")
def mobilenet_v1(width: float = 1.0, lrr: bool = False, num_outputs: int = 62, **kwargs) -> MobileNetV1:
    """MobileNetV1 3DMM-parameter regressor (see :class:`MobileNetV1`)."""
    return MobileNetV1(width=width, num_outputs=num_outputs, lrr=lrr, **kwargs)
