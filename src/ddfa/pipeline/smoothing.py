"""Causal temporal smoothing: the One-Euro filter (Casiez, Roussel and Vogel, CHI 2012).

An exponential low-pass filter whose cutoff frequency rises with the signal's
speed: ``cutoff = min_cutoff + beta * speed``. Slow motion is smoothed hard
(no jitter), fast motion is followed closely (little lag). Each output depends
only on the current and past inputs, so it needs no look-ahead.
"""

from __future__ import annotations

import math

import numpy as np

from ddfa.errors import InputError

__all__ = ["OneEuroFilter"]


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Smoothing factor of a first-order low-pass filter at ``cutoff`` Hz sampled every ``dt`` s."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Vectorised One-Euro filter over the components of an array signal.

    Args:
        min_cutoff: cutoff in Hz at zero speed (lower = smoother, more lag when slow).
        beta: cutoff increase in Hz per unit of speed (higher = less lag when fast).
        d_cutoff: cutoff in Hz of the low-pass filter on the derivative.
        shared: use one cutoff for all components, from the largest speed,
            so that components that belong together (a pose) never tear apart.

    Speed is ``|d x / d t| / scale`` per component (``scale`` given per call), so
    ``beta`` is unit-free when ``scale`` is the signal's natural size.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0, shared: bool = False):
        for name, value in (("min_cutoff", min_cutoff), ("d_cutoff", d_cutoff)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise InputError(f"{name} must be a positive number of Hz, got {value!r}")
        if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta >= 0):
            raise InputError(f"beta must be a non-negative number, got {beta!r}")
        self.min_cutoff, self.beta, self.d_cutoff, self.shared = float(min_cutoff), float(beta), float(d_cutoff), shared
        self.reset()

    def reset(self) -> None:
        """Forget the past; the next input is returned unchanged."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def __call__(self, x: np.ndarray, t: float, scale: float | np.ndarray = 1.0) -> np.ndarray:
        """Filter the sample ``x`` (any shape, float) taken at time ``t`` seconds; returns float64.

        Raises:
            InputError: ``t`` does not increase, or ``x`` changed shape.
        """
        x = np.asarray(x, np.float64)
        if self._x is None:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t)
            return x.copy()
        if x.shape != self._x.shape:
            raise InputError(f"the signal changed shape from {self._x.shape} to {x.shape}; call reset() first")
        dt = float(t) - self._t
        if not dt > 0:
            raise InputError(f"timestamps must increase, got {t} after {self._t}")
        dx = (x - self._x) / dt
        self._dx = self._dx + _alpha(self.d_cutoff, dt) * (dx - self._dx)
        speed = np.abs(self._dx) / scale
        if self.shared:
            speed = speed.max()
        a = _alpha(self.min_cutoff + self.beta * speed, dt)
        self._x = self._x + a * (x - self._x)
        self._t = float(t)
        return self._x.copy()
