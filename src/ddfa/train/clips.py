"""Online augmentation and 3D-aided short-video synthesis (the paper's Section 3).

Every sample drawn from a source becomes a clip of ``clip_len`` frames
(``clip_len = 1`` without video synthesis). Frame 0 is the source crop moved by a
random in-plane similarity. Frame j is frame j-1 moved by a small similarity T and,
when an out-of-plane operator is given, a small face-profiling rotation F; each
frame is then degraded by Gaussian noise P and motion blur M (``x'_j = (M o P)(x_j)``,
``x_j = (T o F)(x_{j-1})``). Labels move exactly with the image. Optionally, a share of the clips
first gets one random camera look (colour, contrast, gamma, low resolution, JPEG; the same for all
its frames), to narrow the gap between 300-W's photos and other cameras; another share gets one
synthetic occluder (:mod:`ddfa.data.occlusion`), pasted before the camera look.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from ddfa.data import augment, occlusion
from ddfa.morphable import FaceModel
from ddfa.morphable.frames import CROP_SIZE
from ddfa.train.config import AugmentConfig

OutOfPlane = Callable[[np.ndarray, np.ndarray, float, float], tuple[np.ndarray, np.ndarray]]


class Source(Protocol):
    """Training samples: ``get(i)`` -> (crop (120, 120, 3) uint8, params (62,) float32, vertex frame)."""

    def __len__(self) -> int: ...

    def get(self, index: int) -> tuple[np.ndarray, np.ndarray]: ...


class ClipSynthesizer:
    """Turns one source sample into a clip; deterministic given the generator."""

    def __init__(self, cfg: AugmentConfig, out_of_plane: OutOfPlane | None = None, model: FaceModel | None = None):
        self.cfg = cfg
        self.model = (model or FaceModel.load()) if cfg.recrop else None
        self.out_of_plane = out_of_plane if cfg.step_yaw > 0 or cfg.step_pitch > 0 else None
        self.length = cfg.clip_len if cfg.video else 1

    def _similarity(self, rng, scale, angle, shift):
        c = (CROP_SIZE - 1) / 2
        return augment.similarity_matrix(
            1 + rng.uniform(-scale, scale), rng.uniform(-angle, angle),
            *(rng.uniform(-shift, shift, 2) * CROP_SIZE), centre=(c, c))

    def _first_move(self, rng, params):
        """The first frame's image-frame affine (2, 3). With ``recrop``, the random rotation is followed
        by the crop policy's framing of the rotated 68-point box (a rolled face has a larger box, so it is
        seen smaller, as at inference), then by the scale and shift jitter."""
        c = self.cfg
        if self.model is None:
            return self._similarity(rng, c.scale, c.angle, c.shift)
        centre = (CROP_SIZE - 1) / 2
        rot = augment.similarity_matrix(1.0, rng.uniform(-c.angle, c.angle), 0.0, 0.0, centre=(centre, centre))
        jitter = self._similarity(rng, c.scale, 0.0, c.shift)
        return augment.compose_affines(jitter, augment.policy_framed(self.model, params, rot))

    def __call__(self, rng: np.random.Generator, image: np.ndarray, params: np.ndarray):
        """-> images (L, 120, 120, 3) uint8, params (L, 62) float32."""
        c = self.cfg
        first = augment.warp_sample(image, self._first_move(rng, params), params=params)
        images, labels = [first.image], [first.params]
        out_of_plane = self.out_of_plane is not None and self.length > 1 and rng.random() < c.oop_prob
        for _ in range(1, self.length):
            img, p = images[-1], labels[-1]
            if out_of_plane:
                img, p = self.out_of_plane(img, p, rng.uniform(-c.step_yaw, c.step_yaw),
                                           rng.uniform(-c.step_pitch, c.step_pitch))
            moved = augment.warp_sample(img, self._similarity(rng, c.step_scale, c.step_angle, c.step_shift), params=p)
            images.append(moved.image)
            labels.append(moved.params)
        if c.occlusion > 0 and rng.random() < c.occlusion:
            occ = occlusion.random_occluder(rng, images[0])
            images = [occlusion.apply_occluder(img, occ) for img in images]
        if c.appearance > 0 and rng.random() < c.appearance:
            look = augment.random_appearance(rng, c.appearance_strength, c.downscale, c.jpeg)
            images = [augment.apply_appearance(img, look) for img in images]
        if c.video:
            for j, img in enumerate(images):
                img = augment.gaussian_noise(rng, img, rng.uniform(0, c.noise))
                if c.blur >= 1 and rng.random() < 0.5:
                    img = augment.motion_blur(rng, img, rng.uniform(1, c.blur))
                images[j] = img
        return np.stack(images), np.stack(labels).astype(np.float32)
