"""Identity through shot cuts and steady boxes on the real Hamilton clip (three cuts, a crowd shot)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path

from ddfa.pipeline import FaceAligner, FaceTracker
from ddfa.pipeline.tracking import frame_signature, is_cut
from ddfa.pipeline.video import VideoReader


@pytest.fixture(scope="module")
def clip():
    with VideoReader.open(shared_path("media", "videos", "short_hamilton_clip.mp4")) as reader:
        frames = list(reader.frames())
    tracker = FaceTracker(FaceAligner())
    out = [{f.track_id: f for f in tracker.update(frame, timestamp=i / 30)} for i, frame in enumerate(frames)]
    return frames, tracker, out


def test_cuts_are_found_and_no_id_crosses_them(clip):
    frames, tracker, out = clip
    sigs = [frame_signature(f) for f in frames[:25]]
    assert [i for i in range(1, 25) if is_cut(sigs[i - 1], sigs[i])] == [20]  # the cut the issue names
    assert 211 in tracker.cuts and 20 in tracker.cuts
    for c in tracker.cuts:
        assert not set(out[c - 1]) & set(out[c])


def test_ids_are_not_fragmented(clip):
    _, _, out = clip
    counts: dict[int, int] = {}
    for faces in out:
        for k in faces:
            counts[k] = counts.get(k, 0) + 1
    assert len(counts) < 50  # 93 before: faces lost and re-found got new ids
    assert sum(n < 5 for n in counts.values()) < 20  # 72 before


def test_boxes_are_as_steady_as_the_landmarks(clip):
    _, _, out = clip
    box_dh, lmk_dh = [], []
    for a, b in zip(out, out[1:]):
        for k in set(a) & set(b):
            h0, h1 = a[k].box[3] - a[k].box[1], b[k].box[3] - b[k].box[1]
            l0, l1 = np.ptp(a[k].landmarks[:, 1]), np.ptp(b[k].landmarks[:, 1])
            box_dh.append(abs(h1 - h0) / h0)
            lmk_dh.append(abs(l1 - l0) / l0)
    assert np.median(box_dh) < 1.5 * np.median(lmk_dh)  # 0.035 vs 0.013 before (detector box sizes alternate)
