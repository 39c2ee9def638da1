"""Multi-face tracking for video: stable ids, landmark-driven crops, cheap re-detection, smoothing.

Per frame, for the faces being tracked:

1. the crop comes from the face's landmarks in the previous frame
   (:func:`~ddfa.morphable.frames.roi_from_landmarks`, the training rule);
2. **confidence**: the detector runs on a small patch (``check_size`` px, about
   1.6 ms at 96 px) around that crop; its best score there is the face's
   confidence. When the patch detection has drifted from the landmark crop
   (IoU below ``reanchor_iou``), the crop is re-anchored on that detection;
3. the full-image detector runs when there is no face, when a face's
   confidence fell below ``min_score``, and every ``detect_interval`` frames;
   its detections are matched to the tracks by crop IoU. A low-confidence face
   that is matched keeps its id (re-cropped from the detection), one that is
   not is lost; unmatched detections start new tracks (new ids);
4. all crops of the frame go through the network in one batch; tracks that end
   up on the same face are merged (the older id survives);
5. **shot cuts** (:func:`is_cut`: the colour histograms of two frames differ by more than
   ``cut_threshold``) end every track: the detector runs on the new shot and its faces get new
   ids, so no id and no crop is carried onto another person across a cut;
6. a lost track is **remembered** for ``memory`` frames: a new detection at its place (crop IoU
   above 0.3) takes its id back instead of a new one (within a shot only);
7. with ``steady_boxes`` the reported ``Face.box`` is derived from the (smoothed) landmarks
   (:func:`~ddfa.pipeline.crop.box_from_landmarks`) instead of the last detector box, whose size
   jumps between the full and the patch detector;
8. the output is smoothed causally with One-Euro filters
   (:class:`~ddfa.pipeline.smoothing.OneEuroFilter`): the pose with one
   shared cutoff (speeds relative to the face size), the shape and expression
   coefficients per coefficient. The next crop uses the raw (unsmoothed)
   landmarks, so smoothing adds no lag to the tracking itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count

import cv2
import numpy as np

from ddfa.detect import FaceDetector, RetinaFaceDetector
from ddfa.errors import InputError
from ddfa.io import load_image
from ddfa.morphable import layout
from ddfa.morphable.frames import Roi, roi_from_landmarks, vertex_to_image
from ddfa.pipeline.crop import box_from_landmarks, roi_from_box
from ddfa.pipeline.face import Face, build_faces, crop_pose_matrix, image_pose_matrix
from ddfa.pipeline.smoothing import OneEuroFilter

__all__ = ["FaceTracker", "Smoothing", "frame_signature", "is_cut"]

CUT_THRESHOLD = 0.25
"""Bhattacharyya distance of frame histograms above which two frames are taken to be a shot cut. On the
media videos, cuts score 0.38-1.0 and every other pair of frames at most 0.094."""


def frame_signature(image: np.ndarray) -> np.ndarray:
    """RGB uint8 frame -> float32 ``(8, 4, 4)`` HSV histogram of a 64 x 64 thumbnail, summing to 1."""
    step = max(1, min(image.shape[:2]) // 128)  # every step-th pixel first: the cost stays flat on 4K frames
    small = cv2.resize(image[::step, ::step], (64, 64), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256])
    return cv2.normalize(hist, None, 1, 0, cv2.NORM_L1)


def is_cut(previous: np.ndarray, current: np.ndarray, threshold: float = CUT_THRESHOLD) -> bool:
    """Whether two :func:`frame_signature` s differ like a shot cut (Bhattacharyya distance > threshold)."""
    return cv2.compareHist(previous, current, cv2.HISTCMP_BHATTACHARYYA) > threshold


@dataclass(frozen=True)
class Smoothing:
    """One-Euro parameters of the tracker output (see :class:`OneEuroFilter`).

    Speeds are in face sizes per second for the pose (translation over the
    landmark-box size, rotation-scale entries over the scale) and in
    coefficient units per second for the shape and expression.
    """

    min_cutoff: float = 1.0
    beta: float = 5.0
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        OneEuroFilter(self.min_cutoff, self.beta, self.d_cutoff)  # validates the values


def roi_iou(a: Roi, b: Roi) -> float:
    """Intersection over union of two square ROIs."""
    lo = np.maximum(a.box[:2], b.box[:2])
    hi = np.minimum(a.box[2:], b.box[2:])
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    return inter / (a.side**2 + b.side**2 - inter)


@dataclass(eq=False)
class _Track:
    id: int
    roi: Roi  # crop for the current frame
    box: np.ndarray
    score: float
    landmarks: np.ndarray | None = None  # raw (68, 3) landmarks of the last frame
    pose_filter: OneEuroFilter | None = None
    shape_filter: OneEuroFilter | None = None
    age: int = 0
    lost_at: int = 0  # frame index when it was lost (remembered tracks)


class FaceTracker:
    """Stateful multi-face tracker on top of a :class:`~ddfa.pipeline.aligner.FaceAligner`.

    Args:
        aligner: provides the detector, the regressor and the face model.
        detect_interval: run the full detector at least every this many frames
            (new faces appear with at most this delay); 1 = every frame.
        min_score: a tracked face whose patch score drops below this is lost,
            unless the full detection that follows finds it again (then it keeps its id).
            New faces need the detector's own threshold (0.5 by default), so the
            gap between the two gives hysteresis.
        check_size: side in pixels of the patch the confidence check runs on;
            0 disables the check (faces are then only dropped at full detections).
        reanchor_iou: re-crop from the patch detection when its crop overlaps
            the landmark crop less than this.
        max_faces: keep at most this many faces (highest scores); None = all.
        smoothing: One-Euro parameters; None disables smoothing.
        patch_detector: the detector of the confidence check. Default: with the
            default RetinaFace detector, a RetinaFace that reports scores down to
            ``min_score`` and never downscales; with any other detector, that one.
        cut_threshold: shot-cut threshold of :func:`is_cut`; None turns cut detection off.
        memory: frames a lost track is remembered (its id given back to a detection at its
            place); 0 = off.
        steady_boxes: report boxes derived from the output landmarks instead of detector boxes.
        verify: check each track against the detector: match detections to a track by its last
            detector box too, not only by its landmark crop (which can shrink off a small face
            while the detector still finds it); take no detection for a track whose crop is over
            1.5x larger or smaller (another face); and when a track's new landmarks leave its
            detector box of this frame (crop IoU < 0.3), regress it again from that box.

    ``cut_threshold=None, memory=0, steady_boxes=False, verify=False`` is the tracker of ddfa 0.1.
    """

    def __init__(
        self,
        aligner,
        detect_interval: int = 10,
        min_score: float = 0.35,
        check_size: int = 96,
        reanchor_iou: float = 0.5,
        max_faces: int | None = None,
        smoothing: Smoothing | None = Smoothing(),
        patch_detector: FaceDetector | None = None,
        cut_threshold: float | None = CUT_THRESHOLD,
        memory: int = 15,
        steady_boxes: bool = True,
        verify: bool = True,
    ) -> None:
        if not (isinstance(detect_interval, int) and detect_interval >= 1):
            raise InputError(f"detect_interval must be a positive integer, got {detect_interval!r}")
        if not 0.0 <= min_score <= 1.0:
            raise InputError(f"min_score must lie in [0, 1], got {min_score!r}")
        if not (isinstance(check_size, int) and (check_size == 0 or check_size >= 32)):
            raise InputError(f"check_size must be 0 (off) or at least 32 px, got {check_size!r}")
        if max_faces is not None and not (isinstance(max_faces, int) and max_faces >= 1):
            raise InputError(f"max_faces must be a positive integer or None, got {max_faces!r}")
        if cut_threshold is not None and not 0.0 < cut_threshold <= 1.0:
            raise InputError(f"cut_threshold must lie in (0, 1] or be None, got {cut_threshold!r}")
        if not (isinstance(memory, int) and memory >= 0):
            raise InputError(f"memory must be a non-negative integer, got {memory!r}")
        self.cut_threshold = cut_threshold
        self.memory = memory
        self.steady_boxes = bool(steady_boxes)
        self.verify = bool(verify)
        self.cuts: list[int] = []  # frame indices (0-based, this tracker's count) that began a new shot
        self.aligner = aligner
        self.detect_interval = detect_interval
        self.min_score = float(min_score)
        self.check_size = check_size
        self.reanchor_iou = float(reanchor_iou)
        self.max_faces = max_faces
        self.smoothing = smoothing
        if patch_detector is None:
            patch_detector = aligner.detector
            if isinstance(patch_detector, RetinaFaceDetector):
                patch_detector = RetinaFaceDetector(threads=aligner.threads, score_threshold=self.min_score,
                                                    max_size=None, recheck=False)  # the patch is the fine scale
        self.patch_detector = patch_detector
        self.reset()

    def reset(self) -> None:
        """Drop all tracks (ids keep increasing)."""
        self._tracks: list[_Track] = []
        self._lost: list[_Track] = []
        self._signature = None
        self._since_detect = 0
        self._frame = 0
        self._ids = getattr(self, "_ids", count())

    @property
    def num_tracks(self) -> int:
        return len(self._tracks)

    def update(self, image: np.ndarray, timestamp: float | None = None, color: str = "rgb") -> list[Face]:
        """Process the next frame (uint8 ``(H, W, 3)``); returns its faces, ordered by track id.

        Args:
            timestamp: seconds; default ``frame index / 30``. Must increase.
            color: ``"rgb"`` (default) or ``"bgr"`` (frames straight from ``cv2.VideoCapture.read``).
        """
        image = load_image(image, color)
        t = self._frame / 30.0 if timestamp is None else float(timestamp)
        self._frame += 1
        if self.cut_threshold is not None:
            signature = frame_signature(image)
            if self._signature is not None and is_cut(self._signature, signature, self.cut_threshold):
                self.cuts.append(self._frame - 1)
                self._tracks, self._lost = [], []  # a new shot: nobody carries over
            self._signature = signature
        self._lost = [tr for tr in self._lost if self._frame - tr.lost_at <= self.memory]

        for tr in self._tracks:
            tr.roi = roi_from_landmarks(tr.landmarks)
        failed = self._check(image) if self.check_size else []
        self._since_detect += 1
        if not self._tracks or failed or self._since_detect >= self.detect_interval:
            self._detect(image, failed)
        else:
            self._forget(failed)
        if not self._tracks:
            return []

        params = self.aligner.regress(image, [tr.roi for tr in self._tracks], video=True)
        if self.verify:
            self._recrop_strays(image, params)
        raw = build_faces(self.aligner.video_face_model, params, [tr.roi for tr in self._tracks],
                          np.array([tr.box for tr in self._tracks]), np.array([tr.score for tr in self._tracks]),
                          track_ids=[tr.id for tr in self._tracks])
        keep = self._deduplicate(raw)
        self._tracks = [self._tracks[i] for i in keep]
        raw = [raw[i] for i in keep]
        for tr, face in zip(self._tracks, raw):
            tr.landmarks = face.landmarks_3d
            tr.age += 1
        faces = raw if self.smoothing is None else self._smooth(raw, t)
        if self.steady_boxes:
            for face in faces:
                object.__setattr__(face, "box", box_from_landmarks(face.landmarks))
        order = np.argsort([f.track_id for f in faces], kind="stable")
        return [faces[i] for i in order]

    # --- steps ------------------------------------------------------------------------
    def _check(self, image: np.ndarray) -> list[_Track]:
        """Score each track on a patch around its crop; returns the tracks that failed."""
        size = self.check_size
        failed = []
        for tr in self._tracks:
            patch_roi = Roi(tr.roi.cx, tr.roi.cy, tr.roi.side * 4 / 3)  # 2x the landmark box
            A = patch_roi.affine(size)
            patch = cv2.warpAffine(image, A, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            best = None
            for det in self.patch_detector.detect(patch):
                box = ((det.box.reshape(2, 2) - A[:, 2]) / A[0, 0]).reshape(4)  # back to image pixels
                roi = roi_from_box(box)
                iou = roi_iou(roi, tr.roi)
                if iou > 0.2 and self._same_size(roi, tr) and (best is None or det.score > best[0]):
                    best = (det.score, box, roi, iou)
            if best is None or best[0] < self.min_score:
                failed.append(tr)
                continue
            tr.score, tr.box = float(best[0]), best[1].astype(np.float32)
            if best[3] < self.reanchor_iou:
                tr.roi = best[2]
        return failed

    def _detect(self, image: np.ndarray, failed: list[_Track]) -> None:
        """Full-image detection: refresh matched tracks, revive matched ``failed`` ones, start new
        tracks for unmatched detections, drop unmatched failed tracks (all unmatched tracks
        when patch checks are off)."""
        self._since_detect = 0
        dets = self.aligner.detect(image)
        rois = [roi_from_box(d.box) for d in dets]
        pairs = sorted(((self._overlap(r, tr), i, j) for i, r in enumerate(rois) for j, tr in enumerate(self._tracks)),
                       reverse=True)
        used_d, used_t = set(), set()
        for iou, i, j in pairs:
            if iou < 0.3:
                break
            if i in used_d or j in used_t or not self._same_size(rois[i], self._tracks[j]):
                continue
            used_d.add(i)
            used_t.add(j)
            tr = self._tracks[j]
            tr.box, tr.score = dets[i].box, float(dets[i].score)
            if iou < self.reanchor_iou or tr in failed:
                tr.roi = rois[i]
        dropped = failed if self.check_size else self._tracks
        self._forget([tr for j, tr in enumerate(self._tracks) if j not in used_t and tr in dropped])
        for i, det in enumerate(dets):
            if i not in used_d:
                tr = self._revive(rois[i]) or _Track(next(self._ids), rois[i], det.box, float(det.score))
                self._tracks.append(tr)
                tr.box, tr.score = det.box, float(det.score)
        if self.max_faces is not None and len(self._tracks) > self.max_faces:
            self._tracks = sorted(self._tracks, key=lambda tr: -tr.score)[: self.max_faces]

    def _recrop_strays(self, image: np.ndarray, params: np.ndarray) -> None:
        """Regress again, from the detector box, the tracks whose landmarks left that box (in place)."""
        model = self.aligner.video_face_model
        lms = vertex_to_image(model.vertices(params, dense=False), np.stack([tr.roi.affine() for tr in self._tracks]))
        stray = [j for j, tr in enumerate(self._tracks)
                 if roi_iou(roi_from_landmarks(lms[j]), roi_from_box(tr.box)) < 0.3]
        if stray:
            for j in stray:
                self._tracks[j].roi = roi_from_box(self._tracks[j].box)
            params[stray] = self.aligner.regress(image, [self._tracks[j].roi for j in stray], video=True)

    def _same_size(self, roi: Roi, tr: _Track) -> bool:
        """With ``verify``: whether a detection's crop is within 1.5x of the side of the track's last
        detection (one much smaller or larger is another face, e.g. someone behind a face leaving the frame)."""
        return not self.verify or 1 / 1.5 < roi.side / roi_from_box(tr.box).side < 1.5

    def _overlap(self, roi: Roi, tr: _Track) -> float:
        """IoU of ``roi`` with a track's crop, or with the crop of its last detector box if larger (a
        track's landmarks can shrink off a small face while the detector still finds it)."""
        if tr.landmarks is None:
            return roi_iou(roi, tr.roi)
        own = roi_iou(roi, roi_from_landmarks(tr.landmarks)) if tr in self._lost else roi_iou(roi, tr.roi)
        return max(own, roi_iou(roi, roi_from_box(tr.box))) if self.verify else own

    def _forget(self, tracks: list[_Track]) -> None:
        """Drop ``tracks`` from the live ones; remember them for ``memory`` frames."""
        if not tracks:
            return
        self._tracks = [tr for tr in self._tracks if tr not in tracks]
        if self.memory:
            for tr in tracks:
                tr.lost_at = self._frame
            self._lost += tracks

    def _revive(self, roi: Roi) -> _Track | None:
        """The remembered track whose last crop overlaps ``roi`` most (IoU > 0.3), restarted on ``roi``."""
        best = max(self._lost, key=lambda tr: self._overlap(roi, tr), default=None)
        if best is None or self._overlap(roi, best) <= 0.3:
            return None
        self._lost.remove(best)
        best.roi, best.pose_filter, best.shape_filter = roi, None, None  # its filters restart
        return best

    def _deduplicate(self, faces: list[Face]) -> list[int]:
        """Indices of faces to keep: of two whose landmark crops overlap (IoU > 0.5), the older track."""
        rois = [roi_from_landmarks(f.landmarks) for f in faces]
        order = sorted(range(len(faces)), key=lambda i: (-self._tracks[i].age, self._tracks[i].id))
        keep: list[int] = []
        for i in order:
            if all(roi_iou(rois[i], rois[j]) <= 0.5 for j in keep):
                keep.append(i)
        return sorted(keep)

    def _smooth(self, faces: list[Face], t: float) -> list[Face]:
        """Filter each face's image-frame pose and its coefficients; rebuild the faces."""
        s = self.smoothing
        params = np.stack([f.params for f in faces])
        affines = np.stack([f.affine for f in faces])
        M = image_pose_matrix(params, affines)
        shape = layout.shape_coeffs(params).astype(np.float64)
        for i, (tr, face) in enumerate(zip(self._tracks, faces)):
            if tr.pose_filter is None:
                tr.pose_filter = OneEuroFilter(s.min_cutoff, s.beta, s.d_cutoff, shared=True)
                tr.shape_filter = OneEuroFilter(s.min_cutoff, s.beta, s.d_cutoff)
            size = float(np.ptp(face.landmarks, axis=0).max())
            scale = np.concatenate([np.full((3, 3), face.pose.scale), np.full((3, 1), size)], 1)
            M[i] = tr.pose_filter(M[i], t, scale)
            shape[i] = tr.shape_filter(shape[i], t)
        smoothed = layout.join(crop_pose_matrix(M, affines), shape).astype(np.float32)
        return build_faces(self.aligner.video_face_model, smoothed, [f.roi for f in faces],
                           np.stack([f.box for f in faces]), np.array([f.score for f in faces]),
                           track_ids=[f.track_id for f in faces])
