"""Ctrl-C (SIGINT) on real ``ddfa video`` / ``ddfa align`` subprocesses, failing outputs, and the output manifest."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from conftest import shared_path

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _ddfa(*args):
    return [sys.executable, "-m", "ddfa.cli.main", *map(str, args)]


def _interrupt_when(proc, ready, timeout=120.0):
    t = time.monotonic()
    while not ready():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() - t < timeout
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=120)


def test_ctrl_c_on_video_keeps_a_playable_partial_video_and_results(tmp_path):
    src = shared_path("media", "videos", "short_hamilton_clip.mp4")
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen(_ddfa("video", src, "-o", out, "--results", "json", "--no-progress"), env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the partial file exists once the first frame is written; let a few more go through
    _, err = _interrupt_when(proc, lambda: any(tmp_path.glob(".out.*")) and not time.sleep(1.5))
    assert proc.returncode == 130, err
    assert "interrupted" in err and "kept the first" in err
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    frames = json.loads(out.with_suffix(".json").read_text())["frames"]
    assert 0 < n < 275 and len(frames) == n
    assert not list(tmp_path.glob(".*tmp*"))  # no temp file left


def test_ctrl_c_on_align_rolls_back_the_current_image(tmp_path):
    photos = tmp_path / "in"
    photos.mkdir()
    for i in range(6):
        shutil.copy(shared_path("media", "images", "multi_face.jpg"), photos / f"p{i}.jpg")
    out = tmp_path / "out"
    proc = subprocess.Popen(_ddfa("align", photos, "-o", out, "--export", "json,obj,ply,glb", "--draw", "uv,depth"),
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, err = _interrupt_when(proc, lambda: (out / ".ddfa-outputs").exists())
    assert proc.returncode == 130, err
    assert "interrupted after" in err
    done = (out / ".ddfa-outputs").read_text().split()
    stems = {n.split("_")[0].split(".")[0] for n in os.listdir(out) if not n.startswith(".")}
    assert stems and len(stems) < 6
    for stem in stems:  # every image present is complete: its JSON and all per-face files, all in the manifest
        faces = json.loads((out / f"{stem}.json").read_text())["faces"]
        files = sorted(n for n in os.listdir(out) if n.split("_")[0].split(".")[0] == stem)
        assert len(files) == 2 + len(faces) * 6, files  # json, depth; per face obj+mtl+png, ply, glb, uv
        assert set(files) <= set(done)
    assert not [n for n in os.listdir(out) if ".tmp" in n or n.endswith(".png.tmp")]


def test_unwritable_output_fails_once_with_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    images = shared_path("media", "images")
    for cmd in (("align", images, "-o", blocker / "out"),
                ("video", shared_path("media", "videos", "single_face.mp4"), "-o", blocker / "v.mp4")):
        r = subprocess.run(_ddfa(*cmd), env=ENV, capture_output=True, text=True)
        assert r.returncode == 1
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "cannot write to the output folder" in lines[0] and ".ddfa-write" not in lines[0]


def test_input_folder_as_output_is_not_fed_its_own_outputs(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(shared_path("media", "images", "multi_face.jpg"), folder / "group.jpg")
    from ddfa.cli.main import main

    assert main(["align", str(folder), "-o", str(folder), "--draw", "landmarks,mesh", "--export", "json"]) == 0
    first = sorted(os.listdir(folder))
    assert main(["align", str(folder), "-o", str(folder), "--draw", "landmarks,mesh", "--export", "json"]) == 0
    assert sorted(os.listdir(folder)) == first  # no group_landmarks_landmarks.jpg etc.
    assert json.loads((folder / "group.json").read_text())["image"].endswith("group.jpg")
