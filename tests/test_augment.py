"""Tests of ddfa.data.augment: similarity moves, exact label transport, noise and blur."""

from __future__ import annotations

import numpy as np
import pytest

from ddfa.data.augment import (
    Appearance,
    apply_appearance,
    compose_affines,
    gaussian_noise,
    invert_affines,
    motion_blur,
    motion_kernel,
    policy_framed,
    random_appearance,
    similarity_jitter,
    similarity_matrix,
    transform_points,
    warp_params,
    warp_sample,
)
from ddfa.errors import InputError
from ddfa.morphable import compose, layout, rotation_from_euler

SIZE = 120


def _h(a):
    """(2, 3) -> (3, 3) homogeneous."""
    return np.vstack([a, [0.0, 0.0, 1.0]])


def _blob(size, centre, sigma=2.0):
    """uint8 (size, size, 3) image with a Gaussian spot at image-frame ``centre``."""
    y, x = np.mgrid[:size, :size]
    g = np.exp(-((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (2 * sigma**2))
    return np.repeat((255 * g).round().astype(np.uint8)[..., None], 3, -1)


def _centroid(img):
    w = img[..., 0].astype(np.float64)
    y, x = np.mgrid[: img.shape[0], : img.shape[1]]
    return np.array([(w * x).sum(), (w * y).sum()]) / w.sum()


def _random_params(rng, n):
    """Plausible crop-frame params: a face of ~70 px with a random pose and shape."""
    R = rotation_from_euler(rng.uniform(-60, 60, n), rng.uniform(-20, 20, n), rng.uniform(-30, 30, n))
    t = np.concatenate([rng.uniform(50, 70, (n, 2)), rng.uniform(-5, 5, (n, 1))], 1)
    T = compose(rng.uniform(4, 5, n), R, t)
    return layout.join(T, rng.normal(0, 1, (n, layout.N_SHAPE))).astype(np.float32)


def test_similarity_matrix_matches_geometry():
    A = similarity_matrix(1.5, 90.0, 2.0, -1.0, (10.0, 20.0))
    np.testing.assert_allclose(A @ [10, 20, 1], [12, 19], atol=1e-12)  # centre only shifts
    # counter-clockwise on screen (y down): a point right of the centre moves up
    np.testing.assert_allclose(A @ [11, 20, 1], [12, 19 - 1.5], atol=1e-12)


def test_similarity_jitter_is_deterministic_and_bounded():
    a = similarity_jitter(np.random.default_rng(3), (60, 60), max_scale=0.1, max_angle=10, max_shift=5, n=500)
    b = similarity_jitter(np.random.default_rng(3), (60, 60), max_scale=0.1, max_angle=10, max_shift=5, n=500)
    np.testing.assert_array_equal(a, b)
    scale = np.sqrt(np.linalg.det(a[:, :, :2]))
    angle = np.degrees(np.arctan2(a[:, 0, 1], a[:, 0, 0]))
    shift = np.einsum("nij,j->ni", a, [60.0, 60.0, 1.0]) - 60
    assert np.all(np.abs(scale - 1) <= 0.1 + 1e-12) and np.abs(scale - 1).max() > 0.09
    assert np.all(np.abs(angle) <= 10 + 1e-9) and np.abs(angle).max() > 9
    assert np.all(np.abs(shift) <= 5 + 1e-9) and np.abs(shift).max() > 4.5
    one = similarity_jitter(np.random.default_rng(0), (0, 0))
    assert one.shape == (2, 3)
    with pytest.raises(InputError):
        similarity_jitter(np.random.default_rng(0), (0, 0), max_scale=1.5)


def test_compose_affines_is_matrix_product(rng):
    a, b = rng.normal(size=(2, 4, 2, 3))
    np.testing.assert_allclose(_h_batch(compose_affines(a, b)), _h_batch(a) @ _h_batch(b), atol=1e-12)


def test_invert_affines_matches_opencv(rng):
    import cv2

    a = rng.normal(size=(5, 2, 3))
    inv = invert_affines(a)
    for one, expected in zip(inv, (cv2.invertAffineTransform(x) for x in a)):
        np.testing.assert_allclose(one, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(_h_batch(compose_affines(inv, a)), np.broadcast_to(np.eye(3), (5, 3, 3)), atol=1e-9)


def test_policy_framing_batched_equals_one_by_one(face_model, rng):
    params = _random_params(rng, 6)
    moves = similarity_jitter(rng, (59.5, 59.5), max_scale=0.1, max_angle=30, max_shift=10, n=6)
    batched = policy_framed(face_model, params, moves)
    assert batched.shape == (6, 2, 3)
    for p, m, b in zip(params, moves, batched):
        np.testing.assert_allclose(policy_framed(face_model, p, m), b, rtol=1e-5, atol=1e-4)


def _h_batch(a):
    out = np.zeros((*a.shape[:-2], 3, 3))
    out[..., :2, :] = a
    out[..., 2, 2] = 1
    return out


def test_transform_points_scales_depth(rng):
    A = similarity_matrix(2.0, 30.0, 1.0, 2.0, (5.0, 5.0))
    p = rng.normal(size=(10, 3))
    q = transform_points(A, p)
    np.testing.assert_allclose(q[:, :2], p[:, :2] @ A[:, :2].T + A[:, 2], atol=1e-5)
    np.testing.assert_allclose(q[:, 2], 2 * p[:, 2], atol=1e-5)


def test_warped_params_reconstruct_the_warped_landmarks(face_model, rng):
    params = _random_params(rng, 16)
    affines = similarity_jitter(rng, (59.5, 59.5), max_scale=0.2, max_angle=40, max_shift=15, n=16)
    before = face_model.vertices(params, dense=False).astype(np.float64)  # vertex frame
    after = face_model.vertices(warp_params(params, affines, SIZE), dense=False)
    # independent route: vertex -> crop pixels (flip y), apply the affine, flip back
    img = before.copy()
    img[..., 1] = SIZE - 1 - img[..., 1]
    moved = np.einsum("bij,bpj->bpi", affines, np.concatenate([img[..., :2], np.ones_like(img[..., :1])], -1))
    expected = np.concatenate([moved, img[..., 2:] * np.sqrt(np.linalg.det(affines[:, :, :2]))[:, None, None]], -1)
    expected[..., 1] = SIZE - 1 - expected[..., 1]
    np.testing.assert_allclose(after, expected, atol=1e-3)
    np.testing.assert_array_equal(layout.shape_coeffs(warp_params(params, affines)), layout.shape_coeffs(params))


def test_warp_sample_moves_image_and_labels_together(face_model, rng):
    u, v = 52.3, 67.8  # crop pixels (y down)
    image = _blob(SIZE, (u, v))
    A = similarity_matrix(1.1, 12.0, 3.0, -4.0, (60.0, 55.0))
    params = _random_params(rng, 1)[0]
    out = warp_sample(image, A, points=np.array([[u, SIZE - 1 - v, 7.0]]), params=params)
    assert out.image.shape == image.shape and out.image.dtype == np.uint8
    x, y = _centroid(out.image)
    np.testing.assert_allclose([out.points[0, 0], SIZE - 1 - out.points[0, 1]], [x, y], atol=0.05)
    np.testing.assert_allclose(out.points[0, 2], 7.0 * 1.1, rtol=1e-5)
    lm = face_model.vertices(out.params[None], dense=False)[0]
    lm_pts = warp_sample(image, A, points=face_model.vertices(params[None], dense=False)[0]).points
    np.testing.assert_allclose(lm, lm_pts, atol=1e-3)
    assert warp_sample(image, A).points is None


def test_warp_params_rejects_non_similarities(rng):
    params = _random_params(rng, 1)
    with pytest.raises(InputError, match="similarity"):
        warp_params(params, np.array([[1.0, 0.3, 0.0], [0.0, 1.0, 0.0]]))  # shear
    with pytest.raises(InputError, match="similarity"):
        warp_params(params, np.array([[-1.0, 0.0, 119.0], [0.0, 1.0, 0.0]]))  # mirror
    with pytest.raises(InputError, match="singular"):
        warp_params(params, np.zeros((2, 3)))
    with pytest.raises(InputError):
        warp_sample(np.zeros((8, 8), np.uint8), np.eye(2, 3))


def test_gaussian_noise_statistics_and_determinism():
    img = np.full((200, 200, 3), 128, np.uint8)
    a = gaussian_noise(np.random.default_rng(1), img, 5.0)
    b = gaussian_noise(np.random.default_rng(1), img, 5.0)
    c = gaussian_noise(np.random.default_rng(2), img, 5.0)
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)
    d = a.astype(np.float64) - 128
    assert abs(d.std() - 5.0) < 0.1 and abs(d.mean()) < 0.1
    assert all(abs(d[..., k].std() - 5.0) < 0.15 for k in range(3))  # every channel is noisy
    np.testing.assert_array_equal(gaussian_noise(np.random.default_rng(0), img, 0.0), img)


@pytest.mark.parametrize("angle", [0.0, 37.0, 90.0, 135.0])
def test_motion_kernel_is_a_centred_line(angle):
    k = motion_kernel(9.0, angle)
    assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert abs(k.sum() - 1) < 1e-6
    y, x = np.mgrid[: k.shape[0], : k.shape[1]] - k.shape[0] // 2
    np.testing.assert_allclose([(k * x).sum(), (k * y).sum()], [0, 0], atol=0.05)  # labels do not move
    # spread along the line, little across it
    r = np.deg2rad(angle)
    along = x * np.cos(r) - y * np.sin(r)
    across = x * np.sin(r) + y * np.cos(r)
    assert np.sqrt((k * along**2).sum()) > 2.0 and np.sqrt((k * across**2).sum()) < 0.7


def test_motion_blur_keeps_the_centroid_and_is_deterministic():
    img = _blob(64, (30.0, 33.0), sigma=1.0)
    a = motion_blur(np.random.default_rng(4), img, 7.0)
    b = motion_blur(np.random.default_rng(4), img, 7.0)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(_centroid(a), _centroid(img), atol=0.1)
    horizontal = motion_blur(np.random.default_rng(0), img, 9.0, angle=0.0)[..., 0].astype(float)
    assert horizontal[33].std() > horizontal[:, 30].std()  # spread along x, not y
    with pytest.raises(InputError):
        motion_kernel(0.5, 0.0)


def _texture(seed=0, size=120):
    """A smooth colour image with fine detail: a gradient plus a checkerboard."""
    y, x = np.mgrid[:size, :size]
    base = np.stack([x, y, (x + y) / 2], -1) / size * 160 + 40
    return np.clip(base + 30 * ((x // 2 + y // 2) % 2)[..., None], 0, 255).astype(np.uint8)


def test_identity_appearance_is_a_no_op():
    img = _texture()
    np.testing.assert_array_equal(apply_appearance(img, Appearance()), img)
    look = random_appearance(np.random.default_rng(0), strength=0.0, downscale=1.0, jpeg=0)
    assert look == Appearance()  # strength 0: no colour change, and never grey
    np.testing.assert_array_equal(apply_appearance(img, look), img)


def test_appearance_components_do_what_they_say():
    img = _texture()
    grey = apply_appearance(img, Appearance(saturation=0.0)).astype(int)
    assert np.abs(grey[..., 0] - grey[..., 1]).max() <= 1 and np.abs(grey[..., 1] - grey[..., 2]).max() <= 1
    assert abs(grey.mean() - img.mean()) < 1.0  # greying keeps the brightness
    bright = apply_appearance(img, Appearance(gain=(1.2, 1.2, 1.2)))
    assert bright.mean() > img.mean() * 1.1
    flat = apply_appearance(img, Appearance(contrast=0.5))
    assert flat.std() < img.std() * 0.6 and abs(flat.mean() - img.mean()) < 2.0
    detail = lambda a: np.abs(np.diff(a.astype(float), axis=1)).mean()  # noqa: E731
    low = apply_appearance(img, Appearance(downscale=3.0))
    assert low.shape == img.shape and detail(low) < 0.5 * detail(img)
    jpeg = apply_appearance(img, Appearance(jpeg=10))
    assert jpeg.shape == img.shape and 0 < np.abs(jpeg.astype(int) - img).mean() < 20


def test_random_appearance_is_seeded_and_bounded():
    a = [random_appearance(np.random.default_rng(s)) for s in range(50)]
    assert a[0] == random_appearance(np.random.default_rng(0)) and a[0] != a[1]
    assert all(1.0 <= x.downscale <= 3.0 and 30 <= x.jpeg <= 95 and 0.7 - 1e-9 <= x.gamma <= 1.4 + 1e-9
               for x in a)
    assert all(0.6 < g < 1.45 for x in a for g in x.gain)
    with pytest.raises(InputError):
        random_appearance(np.random.default_rng(0), downscale=0.5)
    with pytest.raises(InputError):
        apply_appearance(np.zeros((8, 8), np.uint8), Appearance())
