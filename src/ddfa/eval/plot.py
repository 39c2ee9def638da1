"""Cumulative error distribution (CED) plots drawn with OpenCV."""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from ddfa.eval.metrics import ced

__all__ = ["draw_ced"]

_COLORS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75))
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw_ced(
    curves: Mapping[str, np.ndarray],
    *,
    max_error: float = 10.0,
    title: str = "",
    xlabel: str = "NME (%)",
    size: tuple[int, int] = (760, 520),
) -> np.ndarray:
    """Plot the CED of each ``{label: errors (N,)}`` (NaN = failure) on ``[0, max_error]``.

    Returns an RGB uint8 image ``(height, width, 3)`` for ``size = (width, height)``.
    """
    w, h = size
    left, right, top, bottom = 70, 20, 40 if title else 20, 55
    img = np.full((h, w, 3), 255, np.uint8)
    pw, ph = w - left - right, h - top - bottom

    def to_px(x, y):
        return np.stack([left + x / max_error * pw, top + (1 - y) * ph], -1)

    for i in range(11):  # grid and ticks: 10 steps on each axis
        x, y = left + i * pw / 10, top + i * ph / 10
        cv2.line(img, (round(x), top), (round(x), top + ph), (225, 225, 225), 1)
        cv2.line(img, (left, round(y)), (left + pw, round(y)), (225, 225, 225), 1)
        xt = f"{max_error * i / 10:g}"
        cv2.putText(img, xt, (round(x) - 4 * len(xt), top + ph + 18), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, f"{1 - i / 10:.1f}", (left - 34, round(y) + 5), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.rectangle(img, (left, top), (left + pw, top + ph), (0, 0, 0), 1)
    cv2.putText(img, xlabel, (left + pw // 2 - 4 * len(xlabel), h - 12), _FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "fraction", (6, top - 6 if title else 14), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    if title:
        cv2.putText(img, title, (left, 26), _FONT, 0.6, (0, 0, 0), 1, cv2.LINE_AA)

    xs = np.linspace(0.0, max_error, 401)
    colors = [_COLORS[k % len(_COLORS)] for k in range(len(curves))]
    for color, errors in zip(colors, curves.values()):
        pts = np.rint(to_px(xs, ced(errors, xs)) * 16).astype(np.int32)
        cv2.polylines(img, [pts], False, color, 2, cv2.LINE_AA, shift=4)
    # legend in a framed box, bottom right (where good curves leave room)
    text_w = max((cv2.getTextSize(lbl, _FONT, 0.45, 1)[0][0] for lbl in curves), default=0)
    x0, y0 = left + pw - text_w - 56, top + ph - 22 * len(curves) - 14
    cv2.rectangle(img, (x0, y0), (left + pw - 8, top + ph - 8), (255, 255, 255), -1)
    cv2.rectangle(img, (x0, y0), (left + pw - 8, top + ph - 8), (160, 160, 160), 1)
    for k, (color, label) in enumerate(zip(colors, curves)):
        y = y0 + 22 * k + 20
        cv2.line(img, (x0 + 8, y - 4), (x0 + 36, y - 4), color, 3, cv2.LINE_AA)
        cv2.putText(img, label, (x0 + 44, y + 1), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return img
