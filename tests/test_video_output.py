"""Output video: H.264 with the source's audio through PyAV (optional), the mp4v fallback, quiet FFmpeg."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import shared_path

from ddfa.pipeline import FaceAligner
from ddfa.pipeline.video import VideoReader, process_stream


@pytest.fixture(scope="module")
def aligner():
    return FaceAligner()


def test_h264_output_keeps_the_audio(tmp_path, aligner):
    av = pytest.importorskip("av", reason="PyAV (the ddfa[video] extra) is not installed")
    src = shared_path("media", "videos", "short_hamilton_clip.mp4")
    out = tmp_path / "out.mp4"
    with VideoReader.open(src) as reader:
        res = process_stream(aligner, reader, out, max_frames=60, start_frame=30, progress=False)
    with av.open(str(out)) as c:
        video, audio = c.streams.video[0], c.streams.audio[0]
        assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
        assert sum(1 for _ in c.decode(video=0)) == res.num_frames == 60
    with av.open(str(out)) as c:
        last = max(p.pts + (p.duration or 0) for p in c.demux(audio=0) if p.pts is not None)
        assert abs(float(last * c.streams.audio[0].time_base) - 60 / reader.info.fps) < 0.1  # cut to the frames


def test_mp4v_fallback(tmp_path, aligner):
    out = tmp_path / "out.mp4"
    with VideoReader.open(shared_path("media", "videos", "obama.mp4")) as reader:
        process_stream(aligner, reader, out, max_frames=5, progress=False, codec="mp4v")
    with VideoReader.open(out) as check:
        assert sum(1 for _ in check.frames()) == 5


def test_ffmpeg_log_lines_stay_off_stderr(tmp_path):
    data = shared_path("media", "videos", "short_hamilton_clip.mp4").read_bytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[: len(data) // 2])  # no 'moov' atom: FFmpeg complains on its own
    r = subprocess.run([sys.executable, "-m", "ddfa.cli.main", "video", str(broken), "-o", str(tmp_path / "o.mp4")],
                       capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [f"ddfa: error: cannot read video '{broken}': not a video OpenCV can decode"]
