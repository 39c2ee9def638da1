"""Synthetic occluders: a random shape with a random fill pasted over part of a face crop.

An :class:`Occluder` is drawn once per clip (:func:`random_occluder`) and pasted into every frame at
the same crop pixels (:func:`apply_occluder`), like an object between a camera and a moving face.
Shapes: ellipse, rotated bar or random polygon, anti-aliased; fills: a flat colour with a shading
ramp, a smooth random texture, or a shifted and mirrored copy of the crop itself (skin- and
hair-like, the hardest kind). Deterministic given the generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ddfa.errors import InputError

__all__ = ["Occluder", "random_occluder", "apply_occluder"]


@dataclass(frozen=True)
class Occluder:
    """alpha (H, W) float32 in [0, 1], 0 outside the shape; fill (H, W, 3) uint8 pasted where alpha > 0."""

    alpha: np.ndarray
    fill: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """(H, W) bool: the pixels the occluder touches."""
        return self.alpha > 0


def random_occluder(rng: np.random.Generator, image: np.ndarray, area: tuple[float, float] = (0.08, 0.4),
                    face: float = 1 / 1.5) -> Occluder:
    """Draw an occluder for ``image`` (H, W, 3) uint8, a crop whose central ``face`` fraction is the face
    box (the training crop policy). Its area is a uniform share ``area`` of the face box, its centre
    uniform inside the face box, so it covers a part of the face (eyes, mouth, jaw or a cheek)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"random_occluder expects a (H, W, 3) uint8 image, got {image.dtype} {image.shape}")
    if not 0 < area[0] <= area[1] < 1:
        raise InputError(f"occluder area must satisfy 0 < lo <= hi < 1, got {area}")
    h, w = image.shape[:2]
    box = face * min(h, w)
    centre = np.array([w - 1, h - 1]) / 2 + rng.uniform(-box / 2, box / 2, 2)
    target = rng.uniform(*area) * box * box  # pixels
    mask = np.zeros((h, w), np.uint8)
    shape = rng.integers(3)
    angle = rng.uniform(0, 180)
    if shape == 0:  # ellipse
        aspect = rng.uniform(0.4, 1.0)
        a = np.sqrt(target / (np.pi * aspect))
        cv2.ellipse(mask, _fixed(centre), _fixed((a, a * aspect)), angle, 0, 360, 255, -1, cv2.LINE_AA, 4)
    elif shape == 1:  # bar (a finger, a strap, a pen, a microphone)
        aspect = rng.uniform(0.15, 0.5)
        long = np.sqrt(target / aspect)
        pts = cv2.boxPoints(((float(centre[0]), float(centre[1])), (long, long * aspect), angle))
        cv2.fillPoly(mask, [_fixed(pts)], 255, cv2.LINE_AA, 4)
    else:  # random polygon: vertices at random angles and radii about the centre
        n = int(rng.integers(5, 10))
        # one vertex per sector of a full turn, so every gap is under half a turn and the polygon holds its centre
        ang = (np.arange(n) + rng.uniform(0.1, 0.9, n)) * (2 * np.pi / n)
        rad = rng.uniform(0.6, 1.0, n)
        scale = np.sqrt(target / (0.5 * np.sum(rad * np.roll(rad, -1) * np.sin(np.diff(ang, append=ang[0] + 2 * np.pi)))))
        pts = centre + scale * rad[:, None] * np.stack([np.cos(ang), np.sin(ang)], 1)
        cv2.fillPoly(mask, [_fixed(pts)], 255, cv2.LINE_AA, 4)
    return Occluder(mask.astype(np.float32) / 255, _random_fill(rng, image))


def _fixed(values) -> tuple | np.ndarray:
    """Coordinates in cv2's 4-bit fixed point (shift = 4)."""
    a = np.round(np.asarray(values, np.float64) * 16).astype(np.int32)
    return tuple(int(v) for v in a) if a.ndim == 1 else a


def _random_fill(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    kind = rng.integers(3)
    if kind == 0:  # flat colour with a linear shading ramp
        colour = rng.uniform(0, 255, 3)
        ramp = np.linspace(-1, 1, w)[None, :, None] * rng.uniform(0, 40)
        return np.clip(colour + ramp + np.zeros((h, 1, 1)), 0, 255).astype(np.uint8)
    if kind == 1:  # smooth random texture
        cells = int(rng.integers(2, 9))
        small = rng.uniform(0, 255, (cells, cells, 3)).astype(np.float32)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)
    # a shifted, mirrored copy of the crop itself
    shifted = np.roll(image, tuple(rng.integers(h // 4, 3 * h // 4, 2)), axis=(0, 1))
    return np.ascontiguousarray(shifted[:, ::-1] if rng.random() < 0.5 else shifted[::-1])


def apply_occluder(image: np.ndarray, occ: Occluder) -> np.ndarray:
    """Blend ``occ`` into a (H, W, 3) uint8 image of its size; pixels outside its mask are untouched."""
    if image.shape[:2] != occ.alpha.shape or image.dtype != np.uint8:
        raise InputError(f"occluder of size {occ.alpha.shape} does not fit a {image.dtype} {image.shape} image")
    out = image.copy()
    m = occ.mask
    a = occ.alpha[m][:, None]
    out[m] = np.round(a * occ.fill[m] + (1 - a) * image[m]).astype(np.uint8)
    return out
