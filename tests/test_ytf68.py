"""ytf68 in the training cache: reader, split by person, fewer views per frame, per-source report.
On real frames of ../shared/data/ytf68 (a few people) and two 300-W faces."""

from __future__ import annotations

import numpy as np
import pytest

from ddfa.data.cache import BuildSettings, build_cache, source_of, split_of
from ddfa.data.readers import PTS_ORIGIN, person_of, read_300w, read_pts, read_ytf68, write_pts

from conftest import shared_path

SETTINGS = BuildSettings(per_face=2, seed=1, val_fraction=0.06)


@pytest.fixture(scope="module")
def ytf():
    return read_ytf68(shared_path("ytf68"))


def test_reader_reads_both_folders(ytf):
    assert len(ytf) == 4232
    assert {it.subset for it in ytf} == {"ytf68-train", "ytf68-test"}
    assert len({it.name for it in ytf}) == len(ytf)  # both folders reuse file names: the folder is in the name
    for it in ytf[:: 500]:
        assert it.points.shape == (68, 2) and it.points.dtype == np.float32
        assert source_of(it.name) == "ytf68"
    with pytest.raises(FileNotFoundError):
        read_ytf68(shared_path("ytf68") / "no_such_folder")


def test_pts_files_are_read_into_the_pixel_frame_and_written_back(tmp_path):
    """.pts numbers count pixels from 1; ddfa's frame from 0 (the centre of the top-left pixel)."""
    path = sorted(shared_path("300w", "afw").glob("*.pts"))[0]
    raw = np.array(path.read_text().split("{")[1].split("}")[0].split(), np.float64).reshape(-1, 2)
    assert PTS_ORIGIN == 1.0
    np.testing.assert_allclose(read_pts(path), raw - 1, atol=1e-4)
    write_pts(tmp_path / "face.pts", read_pts(path))
    np.testing.assert_allclose(read_pts(tmp_path / "face.pts"), read_pts(path), atol=1e-3)


def test_split_is_by_person(ytf):
    people = {}
    for it in ytf:
        people.setdefault(person_of(it.name), set()).add(split_of(it.name, SETTINGS.val_fraction))
    assert all(len(s) == 1 for s in people.values()), "a person on both sides of the split"
    val = sum(s == {"val"} for s in people.values())
    assert 0.02 < val / len(people) < 0.12
    # people are shared by the two folders: the split does not follow them
    folders = {}
    for it in ytf:
        folders.setdefault(person_of(it.name), set()).add(it.subset)
    assert sum(len(f) == 2 for f in folders.values()) > len(folders) // 2
    assert person_of("ytf68-test/Abdullah_Gul_11") == person_of("ytf68-train/Abdullah_Gul_03") == "ytf68/Abdullah_Gul"
    assert person_of("afw/134212_2") == "afw/134212"


@pytest.fixture(scope="module")
def built(tmp_path_factory, ytf):
    w300 = shared_path("300w")
    val_person = next(person_of(it.name) for it in ytf if split_of(it.name, SETTINGS.val_fraction) == "val")
    train_person = person_of(ytf[0].name)
    frames = [it.name for it in ytf if person_of(it.name) in (val_person, train_person)][::3][:6]
    names = [it.name for it in read_300w(w300)[:2]] + frames
    out = tmp_path_factory.mktemp("ytf") / "c"
    summary = build_cache(out, w300, SETTINGS, workers=0, names=names, progress=False,
                          ytf68=shared_path("ytf68"), ytf68_views=3)
    return out, summary, names


def test_views_split_and_report(built):
    out, summary, names = built
    with np.load(out / "fits.npz") as z:
        assert list(z["names"]) == names
        splits = dict(zip(z["names"], z["splits"]))
        assert np.all(z["error"] < 0.08)
    n_ytf = {s: sum(splits[n] == s for n in names[2:]) for s in ("train", "val")}
    assert n_ytf["val"] > 0 and n_ytf["train"] > 0
    n_300 = {s: sum(splits[n] == s for n in names[:2]) for s in ("train", "val")}
    # 2 x views samples per face: 2 views for 300-W, 3 for ytf68
    assert summary.counts == {s: 4 * n_300[s] + 6 * n_ytf[s] for s in ("train", "val")}
    for s in ("train", "val"):
        src = np.load(out / f"{s}_source.npy")
        assert {splits[names[i]] for i in src} == {s}
    report = (out / "report.md").read_text()
    assert "| 300w |" in report and "| ytf68 |" in report and "3 (x2 flips)" in report


def test_300w_part_matches_a_300w_only_cache(built, tmp_path):
    """Adding ytf68 leaves the 300-W fits and shards unchanged (so a 300-W cache's shards can be reused)."""
    out, _, names = built
    w300 = shared_path("300w")
    only = tmp_path / "w"
    build_cache(only, w300, SETTINGS, workers=0, names=names[:2], progress=False)
    with np.load(out / "fits.npz") as a, np.load(only / "fits.npz") as b:
        np.testing.assert_array_equal(a["params"][:2], b["params"])
    for i in range(2):
        with np.load(out / "shards" / f"{i:05d}.npz") as a, np.load(only / "shards" / f"{i:05d}.npz") as b:
            for f in a.files:
                np.testing.assert_array_equal(a[f], b[f], err_msg=f)


def test_ytf68_fitted_with_its_own_landmark_definition(ytf, face_model):
    """--ytf68-landmarks own: ytf68's frames are fitted with vertices calibrated to its training people, which
    match its annotations more closely (another definition than 300-W's); 300-W's fits do not change."""
    from ddfa.data.cache import fit_sources

    items = read_300w(shared_path("300w"))[:3] + ytf[::12]
    plain = fit_sources(items, face_model, SETTINGS.val_fraction)
    own = fit_sources(items, face_model, SETTINGS.val_fraction, own_landmarks=("ytf68",))
    np.testing.assert_array_equal(own.params[:3], plain.params[:3])
    ytf_train = (np.arange(len(items)) >= 3) & (own.splits == "train")
    ytf_val = (np.arange(len(items)) >= 3) & (own.splits == "val")
    assert ytf_train.sum() > 200 and ytf_val.sum() > 10
    assert own.error[ytf_train].mean() < 0.9 * plain.error[ytf_train].mean()
    assert own.error[ytf_val].mean() < plain.error[ytf_val].mean()  # people the calibration did not see
