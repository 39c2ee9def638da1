"""2D augmentation operators shared by training and the stability benchmark.

Affines are ``(2, 3)`` float64 matrices in the image (or crop) pixel frame of
:mod:`ddfa.morphable.frames` (x = column, y = row down, origin at the centre of
the top-left pixel), the convention of ``cv2.warpAffine``: a point ``p`` moves
to ``A[:, :2] @ p + A[:, 2]``. Labels move exactly with the image:

- image-frame points ``(P, 2|3)`` with :func:`transform_points`;
- vertex-frame points and 62-d parameters of a crop (y flipped, see
  :mod:`ddfa.morphable.frames`) with :func:`warp_sample` / :func:`warp_params`.

Depth is scaled by the affine's scale ``sqrt(|det A[:, :2]|)``, so a similarity
keeps 3D shapes similar. All randomness comes from the ``np.random.Generator``
passed in, so every operator is deterministic given its generator state.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ddfa.errors import InputError
from ddfa.morphable import FaceModel, layout
from ddfa.morphable.frames import CROP_SIZE, landmark_crop_affines

__all__ = [
    "WarpedSample", "similarity_matrix", "similarity_jitter", "compose_affines", "invert_affines", "transform_points",
    "warp_params", "warp_sample", "gaussian_noise", "motion_kernel", "motion_blur", "Appearance",
    "random_appearance", "apply_appearance",
]


def similarity_matrix(scale, angle, tx, ty, centre) -> np.ndarray:
    """Similarity about ``centre`` then a shift; arguments broadcast over leading axes.

    Args:
        scale: scale factor(s) (> 0).
        angle: rotation in degrees, counter-clockwise as seen on screen (the
            ``cv2.getRotationMatrix2D`` convention).
        tx, ty: shift in pixels, applied after the rotation and scaling.
        centre: ``(2,)`` or ``(..., 2)`` fixed point of the rotation and scaling.

    Returns:
        ``(..., 2, 3)`` float64 affine(s).
    """
    centre = np.asarray(centre, dtype=np.float64)
    s, a, tx, ty = (np.asarray(v, dtype=np.float64) for v in (scale, angle, tx, ty))
    cx, cy = centre[..., 0], centre[..., 1]
    if np.any(s <= 0):
        raise InputError("similarity scale must be positive")
    r = np.deg2rad(a)
    c, d = s * np.cos(r), s * np.sin(r)
    out = np.empty((*np.broadcast_shapes(c.shape, tx.shape, ty.shape, cx.shape), 2, 3))
    out[..., 0, 0], out[..., 0, 1], out[..., 0, 2] = c, d, (1 - c) * cx - d * cy + tx
    out[..., 1, 0], out[..., 1, 1], out[..., 1, 2] = -d, c, d * cx + (1 - c) * cy + ty
    return out


def similarity_jitter(
    rng: np.random.Generator,
    centre,
    *,
    max_scale: float = 0.05,
    max_angle: float = 5.0,
    max_shift: float = 4.0,
    n: int | None = None,
) -> np.ndarray:
    """A random small in-plane move about ``centre``: ``(2, 3)``, or ``(n, 2, 3)`` when ``n`` is given.

    Draws, uniformly and independently, a relative scale change in
    ``[-max_scale, max_scale]``, a rotation in ``[-max_angle, max_angle]`` degrees
    and a shift in ``[-max_shift, max_shift]`` pixels per axis.
    """
    if not 0 <= max_scale < 1 or max_angle < 0 or max_shift < 0:
        raise InputError(
            f"jitter ranges must be non-negative (max_scale < 1), got max_scale={max_scale}, "
            f"max_angle={max_angle}, max_shift={max_shift}"
        )
    shape = () if n is None else (int(n),)
    ds = rng.uniform(-max_scale, max_scale, shape)
    da = rng.uniform(-max_angle, max_angle, shape)
    dt = rng.uniform(-max_shift, max_shift, (*shape, 2))
    return similarity_matrix(1 + ds, da, dt[..., 0], dt[..., 1], centre)


def compose_affines(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """``(..., 2, 3)`` affines -> the affine of ``inner`` followed by ``outer``."""
    outer, inner = np.asarray(outer, np.float64), np.asarray(inner, np.float64)
    lin = outer[..., :2] @ inner[..., :2]
    shift = (outer[..., :2] @ inner[..., 2:])[..., 0] + outer[..., 2]
    return np.concatenate([lin, shift[..., None]], -1)


def invert_affines(affine: np.ndarray) -> np.ndarray:
    """``(..., 2, 3)`` invertible affines -> their inverses, float64 (``cv2.invertAffineTransform``, batched;
    exact for quarter turns)."""
    affine = np.asarray(affine, np.float64)
    inv = np.linalg.inv(affine[..., :2])
    return np.concatenate([inv, -(inv @ affine[..., 2:])], -1)


def _scale_of(affine: np.ndarray) -> np.ndarray:
    return np.sqrt(np.abs(np.linalg.det(affine[..., :2])))


def _check_affine(affine) -> np.ndarray:
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape[-2:] != (2, 3) or not np.all(np.isfinite(affine)):
        raise InputError(f"expected a finite (2, 3) affine matrix, got shape {affine.shape}")
    if np.any(np.abs(np.linalg.det(affine[..., :2])) < 1e-12):
        raise InputError("the affine matrix is singular")
    return affine


def transform_points(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Image-frame points ``(..., P, 2|3)`` -> moved by ``affine`` ``(..., 2, 3)``, float32.

    x, y go through the affine; z (when present) is multiplied by its scale.
    """
    affine = _check_affine(affine)
    p = np.asarray(points, dtype=np.float64)
    if p.ndim < 2 or p.shape[-1] not in (2, 3):
        raise InputError(f"points must have shape (..., P, 2) or (..., P, 3), got {p.shape}")
    out = p.copy()
    out[..., :2] = p[..., :2] @ np.swapaxes(affine[..., :2], -1, -2) + affine[..., None, :, 2]
    if p.shape[-1] == 3:
        out[..., 2] *= _scale_of(affine)[..., None]
    return out.astype(np.float32)


def _vertex_frame_affine(affine: np.ndarray, height: int) -> np.ndarray:
    """Conjugate an image-frame affine ``[[a, b, tx], [c, d, ty]]`` by the vertex frame's y flip
    ``y -> h - 1 - y``: ``[[a, -b, b (h - 1) + tx], [-c, d, h - 1 - (d (h - 1) + ty)]]``."""
    a, b, tx = affine[..., 0, 0], affine[..., 0, 1], affine[..., 0, 2]
    c, d, ty = affine[..., 1, 0], affine[..., 1, 1], affine[..., 1, 2]
    out = np.empty(affine.shape)
    out[..., 0, 0], out[..., 0, 1], out[..., 0, 2] = a, -b, b * (height - 1.0) + tx
    out[..., 1, 0], out[..., 1, 1], out[..., 1, 2] = -c, d, (height - 1.0) - (d * (height - 1.0) + ty)
    return out


def _check_similarity(affine: np.ndarray) -> None:
    lin = affine[..., :2]
    det = np.linalg.det(lin)
    k = np.sqrt(np.abs(det))
    rotation_like = (np.abs(lin[..., 0, 0] - lin[..., 1, 1]) <= 1e-6 * k) & (
        np.abs(lin[..., 0, 1] + lin[..., 1, 0]) <= 1e-6 * k
    )
    if not np.all(rotation_like & (det > 0)):
        raise InputError("parameters can only follow a similarity (rotation, uniform scale, shift; no reflection)")


def warp_params(params: np.ndarray, affine: np.ndarray, height: int = 120) -> np.ndarray:
    """Move 62-d parameters ``(..., 62)`` of a ``height``-pixel crop with an image-frame similarity.

    The similarity acts on the pose: ``T' = E @ [T; 0 0 0 1]`` with ``E`` its
    3x4 extension to the vertex frame (z scaled by the similarity's scale), so
    the reconstructed vertices are exactly the warped ones. Returns float32.
    """
    affine = _check_affine(affine)
    _check_similarity(affine)
    params = np.asarray(params, dtype=np.float64)
    av = _vertex_frame_affine(affine, height)
    T = layout.pose_matrix(params)
    ext = np.zeros((*av.shape[:-2], 3, 3))
    ext[..., :2, :2] = av[..., :2]
    ext[..., 2, 2] = _scale_of(av)
    T2 = ext @ T
    T2[..., :2, 3] += av[..., 2]
    return layout.join(T2, layout.shape_coeffs(params)).astype(np.float32)


def policy_framed(model: FaceModel, params: np.ndarray, move: np.ndarray) -> np.ndarray:
    """The crop-frame affine ``(..., 2, 3)`` that applies ``move`` ``(..., 2, 3)`` to a crop and then
    frames the moved face's 68-point box as the crop policy does (``roi_from_landmarks``);
    params ``(..., 62)`` vertex frame (leading axes batched)."""
    params = np.asarray(params)
    sparse = model.vertices(params.reshape(-1, params.shape[-1]), dense=False)[..., :2]
    pts = (sparse * (1, -1) + (0, CROP_SIZE - 1)).reshape(*params.shape[:-1], -1, 2)
    return compose_affines(landmark_crop_affines(transform_points(move, pts)), move)


@dataclass(frozen=True)
class WarpedSample:
    """A warped image and its labels (None where none were given).

    Attributes:
        image: ``(H, W, 3)`` uint8, same size as the input.
        points: ``(P, 2|3)`` float32 in the warped image's vertex frame.
        params: ``(62,)`` or ``(B, 62)`` float32 in the warped image's vertex frame.
    """

    image: np.ndarray
    points: np.ndarray | None = None
    params: np.ndarray | None = None


def warp_sample(
    image: np.ndarray,
    affine: np.ndarray,
    *,
    points: np.ndarray | None = None,
    params: np.ndarray | None = None,
    border: int = cv2.BORDER_REPLICATE,
) -> WarpedSample:
    """Warp a crop ``(H, W, 3)`` by an image-frame ``(2, 3)`` affine, with exact labels.

    ``points`` ``(P, 2|3)`` and ``params`` ``(..., 62)`` are in the crop's vertex
    frame (y flipped about ``H - 1``); they come back in the warped crop's vertex
    frame. ``params`` require a similarity (see :func:`warp_params`).
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.dtype != np.uint8:
        raise InputError(f"warp_sample expects an (H, W, C) uint8 image, got {getattr(image, 'shape', type(image))}")
    affine = _check_affine(affine)
    if affine.shape != (2, 3):
        raise InputError(f"warp_sample expects one (2, 3) affine, got shape {affine.shape}")
    h, w = image.shape[:2]
    warped = cv2.warpAffine(image, affine, (w, h), flags=cv2.INTER_LINEAR, borderMode=border)
    new_points = None
    if points is not None:
        new_points = transform_points(_vertex_frame_affine(affine, h), points)
    new_params = None if params is None else warp_params(params, affine, height=h)
    return WarpedSample(warped, new_points, new_params)


def gaussian_noise(rng: np.random.Generator, image: np.ndarray, sigma: float) -> np.ndarray:
    """Add i.i.d. Gaussian noise of standard deviation ``sigma`` (grey levels) to a uint8 image.

    The samples come from OpenCV's (fast, thread-local) generator seeded from ``rng``,
    so the result is still a function of ``rng``'s state.
    """
    if sigma < 0:
        raise InputError(f"noise sigma must be non-negative, got {sigma}")
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise InputError(f"gaussian_noise expects a uint8 image, got {getattr(image, 'dtype', type(image))}")
    cv2.setRNGSeed(int(rng.integers(2**31)))
    noise = np.empty(image.size, np.float32)  # 1-D: cv2.randn fills only the first channel of a multi-channel Mat
    cv2.randn(noise, 0.0, float(sigma))
    return cv2.add(np.ascontiguousarray(image), noise.reshape(image.shape), dtype=cv2.CV_8U)


def motion_kernel(length: float, angle: float) -> np.ndarray:
    """A normalised, centred line kernel ``(k, k)`` float32 of ``length`` pixels at ``angle`` degrees
    (counter-clockwise on screen); ``k`` is the smallest odd size holding it.

    The segment is sampled densely and splatted bilinearly, so the kernel's centroid is
    exactly its centre pixel.
    """
    if not length >= 1:
        raise InputError(f"motion blur length must be at least 1 pixel, got {length}")
    half = length / 2
    k = 2 * int(np.ceil(half)) + 1
    r = np.deg2rad(angle)
    t = np.linspace(-half, half, int(np.ceil(8 * length)) + 1)
    xy = k // 2 + t[:, None] * np.array([np.cos(r), -np.sin(r)])
    i0 = np.floor(xy).astype(int)
    f = xy - i0
    kernel = np.zeros((k + 1, k + 1))
    for dx in (0, 1):
        for dy in (0, 1):
            w = (f[:, 0] if dx else 1 - f[:, 0]) * (f[:, 1] if dy else 1 - f[:, 1])
            np.add.at(kernel, (i0[:, 1] + dy, i0[:, 0] + dx), w)
    kernel = kernel[:k, :k]
    return (kernel / kernel.sum()).astype(np.float32)


def motion_blur(rng: np.random.Generator, image: np.ndarray, length: float, angle: float | None = None) -> np.ndarray:
    """Linear motion blur of ``length`` pixels; ``angle`` in degrees, drawn uniformly from ``rng`` when None.

    The kernel is centred, so blurred content does not move on average: labels are unchanged.
    """
    if angle is None:
        angle = float(rng.uniform(0.0, 180.0))
    return cv2.filter2D(image, -1, motion_kernel(length, angle), borderType=cv2.BORDER_REFLECT)


@dataclass(frozen=True)
class Appearance:
    """One camera's look: applied to every frame of a clip, so a clip stays consistent.

    ``gain`` (3,) per-channel multipliers (brightness and white balance), ``contrast`` about the
    image mean, ``saturation`` (0 = grey), ``gamma``, ``downscale`` (>= 1: the crop is shrunk by
    this factor and scaled back, a low-resolution face) and ``jpeg`` quality (0 = no re-encoding).
    None of it moves the face, so labels are unchanged.
    """

    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)
    contrast: float = 1.0
    saturation: float = 1.0
    gamma: float = 1.0
    downscale: float = 1.0
    jpeg: int = 0


def random_appearance(rng: np.random.Generator, strength: float = 1.0, downscale: float = 3.0,
                      jpeg: int = 30) -> Appearance:
    """Draw an :class:`Appearance`: brightness and contrast +-30 %, white balance +-10 %, gamma
    0.7-1.4 and saturation 0-1.3, all scaled by ``strength`` (0 = identity), a grey image one time in
    ten, a downscale factor uniform in [1, ``downscale``] and a JPEG quality uniform in [``jpeg``, 95]
    (``jpeg = 0``: none)."""
    if strength < 0 or downscale < 1 or not 0 <= jpeg <= 95:
        raise InputError(f"appearance needs strength >= 0, downscale >= 1 and jpeg in [0, 95], "
                         f"got {strength}, {downscale}, {jpeg}")
    u = lambda lo, hi: float(rng.uniform(lo, hi)) * strength  # noqa: E731
    brightness = 1 + u(-0.3, 0.3)
    gain = tuple(brightness * (1 + u(-0.1, 0.1)) for _ in range(3))
    saturation = 0.0 if rng.random() < 0.1 * strength else 1 + u(-1.0, 0.3)
    return Appearance(gain=gain, contrast=1 + u(-0.3, 0.3), saturation=max(saturation, 0.0),
                      gamma=float(np.exp(u(np.log(0.7), np.log(1.4)))),
                      downscale=float(rng.uniform(1, downscale)),
                      jpeg=int(rng.integers(jpeg, 96)) if jpeg else 0)


def apply_appearance(image: np.ndarray, look: Appearance) -> np.ndarray:
    """Apply ``look`` to a uint8 ``(H, W, 3)`` image (any channel order); returns a new uint8 image."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"apply_appearance expects a (H, W, 3) uint8 image, got "
                         f"{getattr(image, 'dtype', type(image))} {getattr(image, 'shape', '')}")
    # saturation, contrast (about the mean grey level) and gain are one affine colour map
    sat = look.saturation * np.eye(3) + (1 - look.saturation) / 3
    gain = np.asarray(look.gain)[:, None]
    mean = float(np.mean(cv2.mean(image)[:3]))
    matrix = np.hstack([gain * look.contrast * sat, gain * (1 - look.contrast) * mean])
    out = cv2.transform(image, matrix)
    lut = np.round(255.0 * (np.arange(256) / 255.0) ** look.gamma).astype(np.uint8)
    out = cv2.LUT(out, lut)
    h, w = out.shape[:2]
    small = (max(1, round(w / look.downscale)), max(1, round(h / look.downscale)))
    if small != (w, h):
        out = cv2.resize(cv2.resize(out, small, interpolation=cv2.INTER_AREA), (w, h),
                         interpolation=cv2.INTER_LINEAR)
    if look.jpeg:
        buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, look.jpeg])[1]
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out
