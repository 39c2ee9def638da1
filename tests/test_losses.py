"""VDC, WPDC, fWPDC and LRR on real fitted parameters."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason='needs torch: pip install ".[train]"')

from ddfa.losses import FWPDC, VDC, WPDC, LandmarkRegression, balanced
from ddfa.morphable import compose, layout, rotation_from_euler
from ddfa.morphable.fit import LandmarkFitter
from ddfa.morphable.frames import image_to_vertex, roi_from_landmarks


@pytest.fixture(scope="module")
def fitted(face_model, w300_subset):
    pts = np.stack([it.points for it in w300_subset[:16]])
    aff = np.stack([roi_from_landmarks(p).affine() for p in pts])
    return torch.from_numpy(LandmarkFitter(face_model).fit(image_to_vertex(pts, aff)).params)


def perturb(p, scale, seed=0):
    g = torch.Generator().manual_seed(seed)
    return p + torch.randn(p.shape, generator=g) * scale * p.abs().mean(0)


def test_fwpdc_weights_equal_wpdc_for_similarity_targets(face_model, fitted):
    tm = face_model.torch()
    pred = perturb(fitted, 0.05)
    w_ref, w_fast = WPDC(tm).weights(pred, fitted), FWPDC(tm).weights(pred, fitted)
    assert torch.allclose(w_ref, w_fast, atol=1e-4)
    assert torch.isclose(WPDC(tm)(pred, fitted), FWPDC(tm)(pred, fitted), rtol=1e-4)


def test_fwpdc_weights_equal_wpdc_for_general_affine_targets(face_model, fitted):
    """With the Gram form of the coefficient weights the equality holds for any 3x4 target."""
    tm = face_model.torch()
    target = fitted.clone()
    T = layout.pose_matrix(target)
    T[:, :, :3] = T[:, :, :3] @ torch.diag(torch.tensor([1.3, 0.8, 1.1]))
    target = layout.join(T, layout.shape_coeffs(target))
    pred = perturb(target, 0.05, seed=1)
    assert torch.allclose(WPDC(tm).weights(pred, target), FWPDC(tm).weights(pred, target), atol=1e-4)


def test_losses_are_zero_at_target_and_grow(face_model, fitted):
    tm = face_model.torch()
    for loss in (VDC(tm), VDC(tm, dense=False), FWPDC(tm)):
        assert loss(fitted, fitted).item() == pytest.approx(0, abs=1e-6)
        small, large = loss(perturb(fitted, 0.01), fitted), loss(perturb(fitted, 0.1), fitted)
        assert 0 < small < large


def test_vdc_matches_numpy_reconstruction(face_model, fitted):
    pred = perturb(fitted, 0.05)
    v = face_model.vertices(pred.numpy()) - face_model.vertices(fitted.numpy())
    expect = (v**2).sum(-1).mean()
    assert VDC(face_model.torch())(pred, fitted).item() == pytest.approx(expect, rel=1e-3)


def test_gradients_flow_through_losses_not_weights(face_model, fitted):
    tm = face_model.torch()
    pred = perturb(fitted, 0.05).requires_grad_()
    FWPDC(tm)(pred, fitted).backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_lrr_and_balancing():
    g = torch.Generator().manual_seed(0)
    target = torch.randn(4, 68, 2, generator=g)
    pred = torch.randn(4, 136, generator=g, requires_grad=True)
    lrr = LandmarkRegression()(pred, target)
    assert lrr.item() == pytest.approx(((pred.detach().reshape(4, 68, 2) - target) ** 2).sum(-1).mean().item())
    main = torch.tensor(3.0)
    b = balanced(main, lrr)
    assert b.item() == pytest.approx(3.0)
    b.backward()
    assert pred.grad.abs().sum() > 0
