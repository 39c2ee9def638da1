"""The ``ddfa`` command line: align, video, webcam, export, bench; bad input gives a message, not a traceback."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_path
from _placeholder_weights import isolated_cache, placeholder_weights  # noqa: F401

from ddfa.cli.main import main
from ddfa.io import load_image


def media(*parts) -> Path:
    return shared_path("media", *parts)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.mark.parametrize("command", ["align", "video", "webcam", "export onnx", "bench"])
def test_help_has_examples(capsys, command):
    with pytest.raises(SystemExit) as exc:
        main([*command.split(), "--help"])
    assert exc.value.code == 0
    assert "examples:" in capsys.readouterr().out


def test_align_end_to_end(tmp_path, capsys, placeholder_weights):
    out = tmp_path / "out"
    code, _, err = run(capsys, "align", media("images", "emma.jpg"), "-o", out, "--draw", "landmarks,mesh,pose",
                       "--export", "obj,json", "--weights", placeholder_weights)
    assert code == 0, err
    result = json.loads((out / "emma.json").read_text())
    assert len(result["faces"]) == 4 and (result["width"], result["height"]) == (3913, 1901)  # 3 shots + bystander
    for kind in ("landmarks", "mesh", "pose"):
        assert load_image(out / f"emma_{kind}.jpg").shape == (1901, 3913, 3)
    for i in range(4):
        obj = (out / f"emma_face{i}.obj").read_text()
        assert "\nvt " in obj and f"mtllib emma_face{i}.mtl" in obj
        assert (out / f"emma_face{i}.png").is_file() and (out / f"emma_face{i}.mtl").is_file()
    assert "4 face(s)" in err
    assert [f.name for f in out.glob(".*")] == [".ddfa-outputs"]  # the manifest, no temporary files
    # the flip test finds the same faces and moves their landmarks only a little
    code, _, err = run(capsys, "align", media("images", "emma.jpg"), "-o", tmp_path / "flip", "--export", "json",
                       "--weights", placeholder_weights, "--flip-test")
    assert code == 0, err
    flipped = json.loads((tmp_path / "flip" / "emma.json").read_text())["faces"]
    for a, b in zip(result["faces"], flipped):
        assert a["box"] == b["box"]
        assert 0 < np.abs(np.subtract(a["landmarks_3d"], b["landmarks_3d"])[:, :2]).max() < 0.2 * (a["box"][2] - a["box"][0])
    # so does the bare one-pass network (the upright pass is on by default)
    code, _, err = run(capsys, "align", media("images", "emma.jpg"), "-o", tmp_path / "one", "--export", "json",
                       "--weights", placeholder_weights, "--no-upright")
    assert code == 0, err
    one_pass = json.loads((tmp_path / "one" / "emma.json").read_text())["faces"]
    assert [f["box"] for f in one_pass] == [f["box"] for f in result["faces"]]


@pytest.fixture
def bad_folder(tmp_path):
    """A folder of good, convertible and broken images, plus a non-image file given by name."""
    src = media("images", "single_face.jpg")
    folder = tmp_path / "in"
    folder.mkdir()
    data = src.read_bytes()
    shutil.copy(src, folder / "good.jpg")
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xda" + bytes(range(256)) * 20 + b"\xff\xd9")
    (folder / "empty.png").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    rgb = load_image(src)
    cv2.imwrite(str(folder / "gray.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    cv2.imwrite(str(folder / "rgba.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA))
    cv2.imwrite(str(folder / "deep.png"), rgb[..., ::-1].astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "tiny.png"), np.zeros((16, 16, 3), np.uint8))
    shutil.copy(media("images", "free-mountain-vector-01.jpg"), folder / "noface.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    return folder


def test_folder_run_continues_past_bad_files(tmp_path, capsys, bad_folder, placeholder_weights):
    out = tmp_path / "out"
    code, _, err = run(capsys, "align", bad_folder, tmp_path / "notes.txt", tmp_path / "missing.jpg", "-o", out,
                       "--export", "json", "--weights", placeholder_weights)
    assert code == 1
    expected = {
        "corrupt.jpg": "corrupt or truncated",
        "empty.png": "the file is empty",
        "truncated.jpg": "truncated",
        "tiny.png": "too small (16x16 px)",
        "notes.txt": "not a recognised image format",
        "missing.jpg": "no such file or folder",
    }
    failed = err.split("input(s) failed:")[1]
    for name, message in expected.items():
        line = next((ln for ln in failed.splitlines() if name in ln), "")
        assert message in line, f"{name}: {line!r}"
    assert "7 input(s) failed" not in err and "6 input(s) failed" in err
    for name in ("good", "gray", "rgba", "deep"):  # converted and aligned
        assert len(json.loads((out / f"{name}.json").read_text())["faces"]) == 1
    assert "no face found in 1 image(s)" in err and "noface.jpg" in err
    assert json.loads((out / "noface.json").read_text())["faces"] == []


def test_clean_run_exits_zero(tmp_path, capsys, bad_folder, placeholder_weights):
    code, _, err = run(capsys, "align", bad_folder / "good.jpg", bad_folder / "noface.jpg", "-o", tmp_path / "o",
                       "--weights", placeholder_weights)
    assert code == 0 and "failed" not in err
    assert (tmp_path / "o" / "good_landmarks.jpg").is_file()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["align", "nope.jpg", "-o", "{tmp}/o"], "no such file or folder: 'nope.jpg'"),
        (["align", "{face}", "-o", "{tmp}/o", "--weights", "{tmp}/missing.pt"], "weights file not found"),
        (["video", "nope.mp4", "-o", "{tmp}/o.mp4", "--weights", "{weights}"], "no such file"),
        (["video", "{face}", "-o", "{tmp}/o.mp4", "--weights", "{weights}"], "is an image"),
        (["video", "{notes}", "-o", "{tmp}/o.mp4", "--weights", "{weights}"], "cannot read video"),
        (["video", "{face}", "-o", "{tmp}/o.avi", "--weights", "{weights}"], "must be a .mp4"),
        (["export", "onnx", "--weights", "{tmp}/missing.pt", "-o", "{tmp}/m.onnx"], "weights file not found"),
        (["export", "onnx", "--weights", "{weights}", "-o", "{tmp}/m.txt"], "must end in .onnx"),
        (["webcam", "--camera", "97", "-o", "{tmp}/w.mp4"], "cannot open camera 97"),
        (["webcam"], "nothing to do"),
        (["webcam", "--display"], "no GUI support"),
    ],
)
def test_user_errors_give_a_message(tmp_path, capsys, placeholder_weights, argv, message):
    if "--display" in argv and not re.search(r"GUI:\s+NONE", cv2.getBuildInformation()):
        pytest.skip("this OpenCV build has a GUI, so --display would open a window")
    face = media("images", "single_face.jpg")
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video\n" * 100)
    args = [a.format(tmp=tmp_path, face=face, weights=placeholder_weights, notes=notes) for a in argv]
    code, _, err = run(capsys, *args)
    assert code == 1
    assert "ddfa: error:" in err and message in err.split("ddfa: error:", 1)[1]


def test_bad_option_values_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["align", "x.jpg", "-o", "o", "--draw", "landmarks,sketch"])
    assert exc.value.code == 2 and "unknown value(s) sketch" in capsys.readouterr().err


def test_bundled_weights_missing_is_explained(tmp_path, capsys, monkeypatch):
    from ddfa.pipeline import regressor

    monkeypatch.setattr(regressor, "bundled_weights", lambda model, suffix: tmp_path / f"{model}{suffix}")
    code, _, err = run(capsys, "align", media("images", "single_face.jpg"), "-o", tmp_path)
    assert code == 1 and "not installed" in err and "--weights" in err


def test_huge_image(tmp_path, capsys, placeholder_weights):
    """A 10,000 x 10,000 photo: detected on a downscaled copy, drawn at full size."""
    face = load_image(media("images", "single_face.jpg"))
    big = np.full((10_000, 10_000, 3), 90, np.uint8)
    big[4000:4000 + 562 * 4, 3000:3000 + 572 * 4] = cv2.resize(face, (572 * 4, 562 * 4))
    path = tmp_path / "huge.jpg"
    cv2.imwrite(str(path), big[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 80])
    code, _, err = run(capsys, "align", path, "-o", tmp_path / "o", "--export", "json", "--draw", "landmarks",
                       "--weights", placeholder_weights)
    assert code == 0, err
    (f,) = json.loads((tmp_path / "o" / "huge.json").read_text())["faces"]
    assert 3000 < f["box"][0] < f["box"][2] < 3000 + 572 * 4


def test_video_command(tmp_path, capsys, placeholder_weights):
    out = tmp_path / "v" / "clip.mp4"
    code, _, err = run(capsys, "video", media("videos", "single_face.mp4"), "-o", out, "--max-frames", "6",
                       "--results", "json,npz", "--no-progress", "--weights", placeholder_weights)
    assert code == 0, err
    assert cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FRAME_COUNT) == 6
    assert len(json.loads(out.with_suffix(".json").read_text())["frames"]) == 6
    assert out.with_suffix(".npz").is_file() and "6 frames" in err


def test_export_and_use_onnx(tmp_path, capsys, placeholder_weights):
    onnx = tmp_path / "m.onnx"
    code, _, err = run(capsys, "export", "onnx", "--weights", placeholder_weights, "-o", onnx)
    assert code == 0 and onnx.is_file(), err
    code, _, err = run(capsys, "align", media("images", "single_face.jpg"), "-o", tmp_path / "o",
                       "--weights", onnx, "--export", "json")
    assert code == 0, err
    code, _, err = run(capsys, "align", media("images", "single_face.jpg"), "-o", tmp_path / "o",
                       "--weights", onnx, "--backend", "torch")
    assert code == 1 and "needs a .pt checkpoint" in err


def test_bench_command(tmp_path, capsys, placeholder_weights):
    code, out, err = run(capsys, "bench", media("images", "JianzhuGuo.jpg"), "--backends", "onnxruntime",
                         "--threads", "1", "--repeats", "1", "--weights", placeholder_weights,
                         "--json", tmp_path / "b.json")
    assert code == 0, err
    for stage in ("decode", "detect", "crop", "regress", "sparse", "dense", "pose", "draw", "end_to_end"):
        assert f"| {stage} |" in out
    (row,) = json.loads((tmp_path / "b.json").read_text())
    assert row["backend"] == "onnxruntime" and row["ms_per_image"]["regress"] > 0
