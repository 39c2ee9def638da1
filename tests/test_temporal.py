"""The temporal clip loss (frame-to-frame landmark offsets) and synthetic occluders, on real 300-W crops."""

import dataclasses

import cv2
import numpy as np
import pytest
import torch

from ddfa.data.occlusion import apply_occluder, random_occluder
from ddfa.errors import InputError
from ddfa.losses import TemporalOffsets
from ddfa.morphable import Normalizer
from ddfa.morphable.fit import LandmarkFitter
from ddfa.morphable.frames import CROP_SIZE, image_to_vertex, roi_from_landmarks
from ddfa.train.clips import ClipSynthesizer
from ddfa.train.config import AugmentConfig, TrainConfig
from ddfa.train.trainer import Trainer, _collate


@pytest.fixture(scope="module")
def crops(face_model, w300_subset):
    """(crops (8, 120, 120, 3) uint8, params (8, 62)): real faces in training crops."""
    items = w300_subset[:8]
    aff = np.stack([roi_from_landmarks(it.points).affine() for it in items])
    params = LandmarkFitter(face_model).fit(image_to_vertex(np.stack([it.points for it in items]), aff)).params
    images = np.stack([cv2.warpAffine(cv2.imread(str(it.image_path))[..., ::-1], a, (CROP_SIZE, CROP_SIZE),
                                      borderMode=cv2.BORDER_REPLICATE) for it, a in zip(items, aff)])
    return images, params


# --- temporal loss ------------------------------------------------------------------------------
def test_temporal_loss_is_zero_for_the_true_motion_only():
    g = torch.randn(3, 4, 68, 2, generator=torch.Generator().manual_seed(0))
    loss = TemporalOffsets(4)
    target = g.flatten(0, 1)
    # the true motion plus a constant error per clip: the offsets match exactly
    bias = torch.randn(3, 1, 68, 2, generator=torch.Generator().manual_seed(1))
    assert float(loss((g + bias).flatten(0, 1), target)) < 1e-10
    # a prediction that jitters: positive, and equal to the mean squared offset error computed by hand
    jitter = g + 0.1 * torch.randn(g.shape, generator=torch.Generator().manual_seed(2))
    value = float(loss(jitter.flatten(0, 1), target))
    by_hand = np.mean([float(((jitter[c, j + 1] - jitter[c, j]) - (g[c, j + 1] - g[c, j])).square().sum(-1).mean())
                       for c in range(3) for j in range(3)])
    assert value > 1e-3 and value == pytest.approx(by_hand, rel=1e-5)
    # frames are grouped by clip: the same points cut into clips of 2 give another value
    assert float(TemporalOffsets(2)(jitter.flatten(0, 1), target)) != pytest.approx(value)
    with pytest.raises(ValueError):
        loss(target[:6], target[:6])
    with pytest.raises(ValueError):
        TemporalOffsets(1)


def test_trainer_adds_the_temporal_term(tmp_path, crops):
    images, params = crops
    src = _Faces(images, params)
    aug = AugmentConfig(clip_len=4, step_yaw=0, step_pitch=0)
    norm = Normalizer.fit(params)
    cfg = TrainConfig(cache="", out=str(tmp_path / "a"), width=0.25, batch_size=8, threads=1, workers=0, augment=aug)
    plain = Trainer(cfg, src, None, norm)
    with_t = Trainer(dataclasses.replace(cfg, out=str(tmp_path / "b"), temporal=0.5), src, None, norm)
    with_t.net.load_state_dict(plain.net.state_dict())
    batch = next(iter(torch.utils.data.DataLoader(plain.dataset, batch_sampler=plain.sampler, collate_fn=_collate)))
    with torch.no_grad():
        a, b = plain.loss("fwpdc", *batch), with_t.loss("fwpdc", *batch)
        main = plain.losses["fwpdc"]((plain.net(batch[0]) * plain.std + plain.mean), batch[1])
    assert float(b - a) == pytest.approx(0.5 * abs(float(main)), rel=1e-3)  # at half the main loss's size
    with pytest.raises(InputError, match="temporal"):
        TrainConfig(cache="", out="x", temporal=0.5, augment=AugmentConfig(video=False), batch_size=8)
    with pytest.raises(InputError, match="occlusion"):
        TrainConfig(cache="", out="x", augment=AugmentConfig(occlusion=1.5), batch_size=8)


class _Faces:
    def __init__(self, images, params):
        self.images, self.params = images, params

    def __len__(self):
        return len(self.params)

    def get(self, i):
        return self.images[i], self.params[i]


# --- occluders ----------------------------------------------------------------------------------
def test_occluder_changes_pixels_only_inside_its_mask(crops):
    images, _ = crops
    areas = []
    for seed in range(30):
        img = images[seed % len(images)]
        occ = random_occluder(np.random.default_rng(seed), img)
        out = apply_occluder(img, occ)
        assert out.dtype == np.uint8 and out.shape == img.shape
        changed = np.any(out != img, axis=-1)
        assert not changed[~occ.mask].any()
        assert changed[occ.alpha > 0.99].mean() > 0.5  # the fill shows inside the shape
        areas.append(occ.alpha.sum() / (CROP_SIZE / 1.5) ** 2)
    assert 0.05 < min(areas) and max(areas) < 0.5  # a part of the face box, never all of it


def test_every_occluder_covers_a_part_of_the_face_box():
    """Polygons whose vertices fell within a half-turn (seed 872) once missed their centre: no pixels in the crop."""
    img = np.full((CROP_SIZE, CROP_SIZE, 3), 128, np.uint8)
    for seed in range(860, 1000):
        share = random_occluder(np.random.default_rng(seed), img).alpha.sum() / (CROP_SIZE / 1.5) ** 2
        assert 0.02 < share < 0.6, seed


def test_occluder_is_deterministic_given_the_seed(crops):
    img = crops[0][0]
    a, b = (random_occluder(np.random.default_rng(7), img) for _ in range(2))
    assert np.array_equal(a.alpha, b.alpha) and np.array_equal(a.fill, b.fill)
    c = random_occluder(np.random.default_rng(8), img)
    assert not np.array_equal(a.alpha, c.alpha)
    with pytest.raises(InputError):
        random_occluder(np.random.default_rng(0), img.astype(np.float32))
    with pytest.raises(InputError):
        apply_occluder(img[:60], a)


def test_clip_occluder_is_one_per_clip_and_labels_do_not_move(crops):
    """With ``occlusion = 1`` every clip gets one occluder at the same crop pixels in all its frames."""
    images, params = crops
    cfg = AugmentConfig(clip_len=3, step_yaw=0, step_pitch=0, noise=0, blur=0, occlusion=1.0)
    plain = ClipSynthesizer(dataclasses.replace(cfg, occlusion=0.0))(np.random.default_rng(3), images[1], params[1])
    occl = ClipSynthesizer(cfg)(np.random.default_rng(3), images[1], params[1])
    np.testing.assert_array_equal(plain[1], occl[1])
    changed = np.any(plain[0] != occl[0], axis=-1)  # (3, 120, 120)
    assert all(c.sum() > 100 for c in changed)
    union = changed.any(0)
    assert changed.sum(0)[union].mean() > 2.5  # the same pixels in all frames
