"""Tests of the training-cache builder (ddfa.data.cache), its CLI and CacheDataset, on 3 real faces."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("scipy", reason='needs scipy: pip install ".[train]"')

from ddfa.data.cache import FIELDS, BuildSettings, build_cache, split_of, view_plan
from ddfa.data.flip import flip_sample
from ddfa.errors import InputError
from ddfa.morphable import Normalizer
from ddfa.morphable.frames import CROP_SIZE

from conftest import shared_path

SETTINGS = BuildSettings(per_face=2, seed=3, val_fraction=0.06)


@pytest.fixture(scope="module")
def w300():
    return shared_path("300w")


@pytest.fixture(scope="module")
def names(w300):
    """Two training faces and one validation face (by the photo hash)."""
    from ddfa.data.readers import read_300w

    all_names = [it.name for it in read_300w(w300)]
    train = [n for n in all_names if split_of(n, SETTINGS.val_fraction) == "train"][:2]
    val = [n for n in all_names if split_of(n, SETTINGS.val_fraction) == "val"][:1]
    return train + val


@pytest.fixture(scope="module")
def built(tmp_path_factory, w300, names):
    out = tmp_path_factory.mktemp("cache") / "c"
    summary = build_cache(out, w300, SETTINGS, workers=0, names=names, progress=False)
    return out, summary


def _arrays(out):
    return {(s, f): np.load(out / f"{s}_{f}.npy") for s in ("train", "val") for f in FIELDS}


def test_counts_and_split(built, names):
    out, summary = built
    assert summary.counts == {"train": 2 * 2 * 2, "val": 1 * 2 * 2}
    assert summary.rendered == 3 and summary.skipped == 0
    a = _arrays(out)
    assert a["train", "images"].shape == (8, CROP_SIZE, CROP_SIZE, 3) and a["train", "images"].dtype == np.uint8
    assert set(a["train", "source"]) == {0, 1} and set(a["val", "source"]) == {2}
    for f in FIELDS:
        assert len(a["train", f]) == 8 and len(a["val", f]) == 4
    with np.load(out / "fits.npz") as z:
        assert list(z["names"]) == names and list(z["splits"]) == ["train", "train", "val"]
        assert np.all(z["error"] < 0.06)
    for name in ("report.md", "yaw_hist.png", "samples.png", "stats.npz"):
        assert (out / name).is_file()


def test_labels_are_consistent(built, face_model):
    out, _ = built
    a = _arrays(out)
    params, points, images = a["train", "params"], a["train", "points"], a["train", "images"]
    proj = face_model.vertices(params, dense=False)[..., :2]
    proj[..., 1] = CROP_SIZE - 1 - proj[..., 1]
    np.testing.assert_allclose(points, proj, atol=0.02)  # flips: mirrored points vs approximate mirrored params
    # the face fills the crop the way roi_from_landmarks frames it: landmark box = crop / 1.5
    span = (points.max(1) - points.min(1)).max(1)
    np.testing.assert_allclose(span, CROP_SIZE / 1.5, rtol=0.02)
    # odd samples are the flips of the even ones
    assert not a["train", "flipped"][0::2].any() and a["train", "flipped"][1::2].all()
    img, p, q = flip_sample(images[0], params[0], points[0], face_model)
    np.testing.assert_array_equal(img, images[1])
    np.testing.assert_allclose(p, params[1], atol=1e-5)
    np.testing.assert_allclose(q, points[1], atol=1e-4)
    np.testing.assert_allclose(a["train", "yaw"][1::2], -a["train", "yaw"][0::2], atol=0.05)
    with np.load(out / "stats.npz") as z:
        np.testing.assert_allclose(z["param_mean"], params.astype(np.float64).mean(0), rtol=1e-4, atol=1e-4)


def test_deterministic_and_resumable(built, tmp_path, w300, names):
    out, _ = built
    first = _arrays(out)
    # a second build from scratch with the same seed, through 2 worker processes
    other = tmp_path / "again"
    build_cache(other, w300, SETTINGS, workers=2, names=names, progress=False)
    for key, v in _arrays(other).items():
        np.testing.assert_array_equal(v, first[key], err_msg=str(key))
    # a rerun does nothing; a lost shard is redone, and only that one
    again = build_cache(other, w300, SETTINGS, workers=0, names=names, progress=False)
    assert again.rendered == 0 and again.skipped == 3
    shard = sorted((other / "shards").glob("*.npz"))[1]
    kept = {p: p.stat().st_mtime_ns for p in (other / "shards").glob("*.npz") if p != shard}
    shard.unlink()
    resumed = build_cache(other, w300, SETTINGS, workers=0, names=names, progress=False)
    assert resumed.rendered == 1 and resumed.skipped == 2
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())
    for key, v in _arrays(other).items():
        np.testing.assert_array_equal(v, first[key], err_msg=str(key))
    # a different seed gives different views
    third = tmp_path / "seed"
    build_cache(third, w300, BuildSettings(per_face=2, seed=4), workers=0, names=names, progress=False)
    assert not np.array_equal(np.load(third / "train_yaw.npy"), first["train", "yaw"])


def test_settings_mismatch_is_refused(built, w300, names):
    out, _ = built
    with pytest.raises(InputError, match="other settings"):
        build_cache(out, w300, BuildSettings(per_face=3, seed=3), workers=0, names=names, progress=False)
    with pytest.raises(InputError):
        build_cache(out, w300, SETTINGS, workers=0, names=["afw/no_such_face_1"], progress=False)


def test_view_plan_spreads_yaw():
    rng = np.random.default_rng(0)
    for yaw in (-33.0, -2.0, 0.0, 12.0, 41.0):
        d_yaw, d_pitch = view_plan(rng, yaw, 14, 10.0)
        target = yaw + d_yaw
        assert np.all(np.abs(target) <= 90) and len(set(np.sign(target[np.abs(target) > 1e-6]))) == 1
        strata = np.floor(np.abs(target) / (90 / 14)).astype(int)
        assert sorted(strata) == list(range(14))
        assert np.count_nonzero((d_yaw == 0) & (d_pitch == 0)) == 1
        assert np.all(np.abs(d_pitch) <= 10)


def test_dataset(built):
    import torch

    from ddfa.data.dataset import CacheDataset, load_normalizer

    out, summary = built
    ds = CacheDataset(out, "train")
    assert len(ds) == summary.counts["train"]
    item = ds[3]
    assert item["image"].shape == (3, CROP_SIZE, CROP_SIZE) and item["image"].dtype == torch.float32
    assert float(item["image"].max()) <= 255 and item["points"].shape == (68, 2)
    norm = load_normalizer(out)
    raw = np.load(out / "train_params.npy")[3]
    np.testing.assert_allclose(norm.denormalize(item["params"].numpy()), raw, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(item["image"].permute(1, 2, 0).numpy().astype(np.uint8),
                                  np.load(out / "train_images.npy")[3])
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["params"].shape == (4, 62)
    val = CacheDataset(out, "val", normalizer=Normalizer.identity(),
                       transform=lambda im, p, q: (im[:, ::-1], p, q))
    expected = np.load(out / "val_images.npy")[0][:, ::-1].transpose(2, 0, 1)
    np.testing.assert_array_equal(val[0]["image"].numpy(), expected)
    with pytest.raises(InputError):
        CacheDataset(out, "test")
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_dataset_refuses_incomplete_cache(tmp_path):
    from ddfa.data.dataset import CacheDataset

    with pytest.raises(InputError, match="not a complete cache"):
        CacheDataset(tmp_path)


def test_cli_build(tmp_path, w300, built):
    from ddfa.cli.main import main

    out = tmp_path / "cli"
    assert main(["data", "build", "--out", str(out), "--w300", str(w300), "--limit", "1", "--per-face", "1",
                 "--workers", "0"]) == 0
    assert len(np.load(out / "train_yaw.npy")) + len(np.load(out / "val_yaw.npy")) == 2
    # other settings in the same folder: a clean error, exit status 1
    assert main(["data", "build", "--out", str(out), "--w300", str(w300), "--limit", "1", "--per-face", "2",
                 "--workers", "0"]) == 1
    shutil.rmtree(out)


@pytest.mark.parametrize("warm", [False, True])
def test_cli_train_normalises_like_its_starting_point(tmp_path, built, warm):
    """From scratch the run takes the cache's statistics; a warm start keeps those of its checkpoint,
    which its output layer was trained for, even on a cache whose statistics differ."""
    from ddfa.cli.main import main
    from ddfa.nets import create_model
    from ddfa.nets.checkpoint import read_checkpoint, save_checkpoint
    from ddfa.train.sources import cache_normalizer

    cache_stats = cache_normalizer(built[0])
    init = ""
    if warm:
        other = Normalizer(cache_stats.mean + 1.0, cache_stats.std * 2.0)
        init = save_checkpoint(tmp_path / "init.pt", create_model("mobilenet_v1", width=0.25), other,
                               "mobilenet_v1", {"width": 0.25})
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'cache = "{built[0]}"\nout = "{tmp_path / "run"}"\ninit_from = "{init}"\nwidth = 0.25\n'
                   'loss = "vdc"\nlrr = false\nbatch_size = 4\nmax_steps = 2\nwarmup_steps = 1\nthreads = 1\n'
                   'workers = 0\n[augment]\nclip_len = 2\nstep_yaw = 0\nstep_pitch = 0\n')
    assert main(["train", "--config", str(cfg)]) == 0
    ckpt = read_checkpoint(tmp_path / "run" / "best.pt")
    expected = other if warm else cache_stats
    np.testing.assert_array_equal(ckpt["param_mean"], expected.mean)
    np.testing.assert_array_equal(ckpt["param_std"], expected.std)
