"""Pose conventions: the similarity ``T = s [R | t]`` and Euler angles.

Frames. Model space: x to the face's left (the viewer's right on a frontal
face), y up, z out of the face (towards the viewer), in centimetres. Camera /
crop space: x right, y up, z towards the viewer. A frontal, upright face has
``R = I``.

Euler angles, in degrees, with ``R = Rx(pitch) @ Ry(yaw) @ Rz(roll)``:
- yaw > 0: the face turns to its left, so the nose moves right in the image;
- pitch > 0: the face tilts down (the nose moves down in the image);
- roll > 0: the face rotates counter-clockwise in the image.
Yaw is kept in [-90, 90] (the usual branch); at |yaw| = 90 roll is set to 0.

All functions are batched over leading axes and work in float64 or float32 numpy.
"""

from __future__ import annotations

import numpy as np


def rotation_from_euler(yaw, pitch, roll) -> np.ndarray:
    """Angles in degrees, each (...,) -> R (..., 3, 3)."""
    y, p, r = (np.deg2rad(np.asarray(a, dtype=np.float64)) for a in (yaw, pitch, roll))
    y, p, r = np.broadcast_arrays(y, p, r)
    cy, sy, cp, sp, cr, sr = np.cos(y), np.sin(y), np.cos(p), np.sin(p), np.cos(r), np.sin(r)
    o, z = np.ones_like(y), np.zeros_like(y)
    rx = np.stack([o, z, z, z, cp, -sp, z, sp, cp], -1).reshape(*y.shape, 3, 3)
    ry = np.stack([cy, z, sy, z, o, z, -sy, z, cy], -1).reshape(*y.shape, 3, 3)
    rz = np.stack([cr, -sr, z, sr, cr, z, z, z, o], -1).reshape(*y.shape, 3, 3)
    return rx @ ry @ rz


def euler_from_rotation(R: np.ndarray) -> np.ndarray:
    """R (..., 3, 3) -> (..., 3) array of (yaw, pitch, roll) in degrees."""
    R = np.asarray(R, dtype=np.float64)
    # R = Rx(p) Ry(y) Rz(r):  R[0,2] = sin y,  R[0,0] = cos y cos r,  R[0,1] = -cos y sin r,
    # R[1,2] = -sin p cos y,  R[2,2] = cos p cos y.
    yaw = np.arcsin(np.clip(R[..., 0, 2], -1.0, 1.0))
    gimbal = np.abs(R[..., 0, 2]) > 1 - 1e-9
    pitch = np.where(gimbal, np.arctan2(R[..., 2, 1], R[..., 1, 1]), np.arctan2(-R[..., 1, 2], R[..., 2, 2]))
    roll = np.where(gimbal, 0.0, np.arctan2(-R[..., 0, 1], R[..., 0, 0]))
    return np.rad2deg(np.stack([yaw, pitch, roll], -1))


def decompose(T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """T (..., 3, 4) -> scale (...,), R (..., 3, 3), t (..., 3).

    The 3x3 block of a regressed T is only approximately a scaled rotation; R is
    its nearest rotation (SVD, determinant +1) and the scale is the mean singular
    value. ``t`` is the last column, in the target frame's units.
    """
    T = np.asarray(T, dtype=np.float64)
    u, s, vt = np.linalg.svd(T[..., :3, :3])
    R = u @ vt
    mirrored = np.linalg.det(R) < 0
    if mirrored.any():  # the nearest rotation of a reflection: flip the weakest direction
        u[mirrored, :, 2] *= -1
        R[mirrored] = u[mirrored] @ vt[mirrored]
    return s.mean(-1), R, T[..., :3, 3].copy()


def compose(scale, R, t) -> np.ndarray:
    """scale (...,), R (..., 3, 3), t (..., 3) -> T (..., 3, 4) = [scale R | t]."""
    scale = np.asarray(scale, dtype=np.float64)
    M = scale[..., None, None] * np.asarray(R, dtype=np.float64)
    return np.concatenate([M, np.asarray(t, dtype=np.float64)[..., :, None]], -1)


def euler_from_pose_matrix(T: np.ndarray) -> np.ndarray:
    """T (..., 3, 4) -> (yaw, pitch, roll) in degrees (..., 3)."""
    return euler_from_rotation(decompose(T)[1])
