"""The :class:`FaceAligner` facade: image in, list of :class:`~ddfa.pipeline.face.Face` out."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from ddfa.detect import Detection, FaceDetector
from ddfa.detect.retinaface import DETECTION_SIZE, check_policy
from ddfa.errors import InputError
from ddfa.io import load_image
from ddfa.morphable import FaceModel
from ddfa.morphable.frames import Roi, roi_from_landmarks
from ddfa.pipeline.crop import box_inside_share, check_boxes, crop_faces, eye_turns, roi_from_box, unturn_params
from ddfa.pipeline.face import Face, build_faces
from ddfa.pipeline.regressor import (
    MODEL_NAMES,
    VIDEO_MODEL,
    VIDEO_SETTINGS,
    ParamRegressor,
    load_param_regressor,
    with_test_time_options,
)

__all__ = ["FaceAligner"]


class FaceAligner:
    """3D dense face alignment: detection, cropping, regression and reconstruction.

    Args:
        model: bundled model name, one of ``MODEL_NAMES``. None (default): ``"mobilenet_v1_0.5"``
            for still images (the more accurate per millisecond there) and ``"efficientnet_lite0"``
            for :meth:`track` (``VIDEO_MODEL``: AFLW2000-3D clip stability 0.44 % in one int8 pass
            against the 0.5's 0.85 % in two float32 passes (stage 14), in about half the network time;
            docs/networks.md). A named model serves both.
        backend: ``"onnxruntime"`` (default, CPU) or ``"torch"``.
        weights: a ``.pt`` checkpoint or ``.onnx`` graph to use instead of the bundled
            files, for still images and video (see :mod:`ddfa.pipeline.regressor`).
        threads: CPU threads for the network and the default detector.
        precision: bundled ONNX weights, ``"int8"`` or ``"float32"``. None (default): int8 for
            still images (about 0.55x the network time at the same NME, docs/speed.md); for
            :meth:`track`, as ``VIDEO_SETTINGS`` says for the video model (the Lite0: int8; the 0.5:
            float32, since int8 rounding made stage 14's landmarks jitter more, clip stability 1.21 vs
            1.11 %); float32 throughout for the torch backend or a weights file.
        detector: any :class:`~ddfa.detect.FaceDetector`; default: a
            :class:`~ddfa.detect.RetinaFaceDetector`, created on first use.
        face_model: the 3DMM decoding the parameters; default: the bundled one. ``face_model``
            (still images) and ``video_face_model`` (:meth:`track`) are copies of it that read
            expressions from their own network's neutral expression (:mod:`ddfa.morphable.expression`).
        flip_test: also regress each face's mirror image and average the two (twice the network
            time; the 0.5's stage 14: AFLW2000-3D exact 5.00 against 5.09 %, clip stability 0.85 against
            1.11 %, see docs/pipeline.md). None (default): for :meth:`track` where
            ``VIDEO_SETTINGS`` says so (the 0.5 or a weights file: yes; the Lite0: no); True: for
            still images and video; False: never.
        upright: regress a tilted head again, turned upright inside its crop (default on;
            :class:`~ddfa.pipeline.regressor.UprightRegressor`: a second or third network pass for
            faces past 5 degrees of in-plane rotation, blended in up to 15; lower error and steadier
            video, see docs/pipeline.md). ``False`` gives the bare one-pass network.
        any_rotation: find and align faces at any in-plane angle (tilted, sideways, upside down):
            the detector runs on the image turned by 0, 45, ..., 315 degrees and each face is
            aligned in the copy where it is closest to upright (:mod:`ddfa.pipeline.turned`; eight
            detector runs). Still images only: :meth:`track` refuses it.
        min_face: default detector only: the height in pixels of the smallest face to find
            (e.g. 20); None searches one pass of ``det_size`` px, which finds faces from about
            ``min(16 * longer side / det_size, 128)`` px (:class:`~ddfa.detect.RetinaFaceDetector`,
            docs/speed.md).
        det_size: default detector only: the longer side in pixels of its first pass.
        prerotate: crop detected faces turned upright by the detector's eye points when these
            tilt past 5 degrees (default on; saves most of the upright pass's second network runs,
            docs/speed.md). Faces given by boxes or landmarks are not turned.

    Raises:
        ModelError: the weights are missing or unreadable.
        InputError: an unknown model or backend name.

    Example::

        aligner = FaceAligner()
        for face in aligner.align("photo.jpg"):
            print(face.box, face.pose.yaw, face.landmarks.shape)  # (4,), degrees, (68, 2)
    """

    def __init__(
        self,
        model: str | None = None,
        backend: str = "onnxruntime",
        weights: str | os.PathLike | None = None,
        threads: int = 1,
        detector: FaceDetector | None = None,
        face_model: FaceModel | None = None,
        flip_test: bool | None = None,
        upright: bool = True,
        any_rotation: bool = False,
        min_face: float | None = None,
        det_size: int = DETECTION_SIZE,
        prerotate: bool = True,
        precision: str | None = None,
    ) -> None:
        still_model, video_model = model or MODEL_NAMES[0], model or VIDEO_MODEL
        face_model = face_model if face_model is not None else FaceModel.load()
        # expression readings start from each network's own neutral expression (a weights file: the photo model's)
        self.face_model = face_model.for_network(None if weights is not None else still_model)
        self.video_face_model = face_model.for_network(None if weights is not None else video_model)
        base = load_param_regressor(still_model, backend, weights, threads, precision)
        self.regressor: ParamRegressor = with_test_time_options(base, self.face_model, bool(flip_test), upright)
        # video: the video model's own settings where the options leave them open (bundled weights only)
        settings = VIDEO_SETTINGS[video_model] if weights is None else (None, True)
        own_precision = precision is None and backend == "onnxruntime" and weights is None
        video_precision = settings[0] if own_precision else precision
        video_flip = settings[1] if flip_test is None else flip_test
        reuse = weights is not None or (video_model == still_model and (not own_precision or video_precision == "int8"))
        same = reuse and video_flip == bool(flip_test)

        def video_regressor() -> ParamRegressor:
            video_base = base if reuse else load_param_regressor(video_model, backend, None, threads, video_precision)
            return with_test_time_options(video_base, self.face_model, video_flip, upright)

        self._video_regressor: ParamRegressor | None = self.regressor if same else None
        self._make_video_regressor = video_regressor
        self.backend = backend
        self.threads = threads
        self.prerotate = prerotate
        self._detector = detector
        self.any_rotation = bool(any_rotation)
        self._detector_options = {"min_face": min_face, "max_size": det_size}
        if detector is None:
            check_policy(**self._detector_options)  # now, not at the first image

    @property
    def detector(self) -> FaceDetector:
        """The face detector (the default one is built on first use)."""
        if self._detector is None:
            from ddfa.detect import RetinaFaceDetector

            self._detector = RetinaFaceDetector(threads=self.threads, **self._detector_options)
        return self._detector

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Run the detector on an RGB uint8 image; highest score first."""
        return self.detector.detect(image)

    @property
    def video_regressor(self) -> ParamRegressor:
        """The regressor of :meth:`track` (the video model with its ``VIDEO_SETTINGS`` unless
        ``precision`` or ``flip_test`` say otherwise), built on first use."""
        if self._video_regressor is None:
            self._video_regressor = self._make_video_regressor()
        return self._video_regressor

    def regress(self, image: np.ndarray, rois: Sequence[Roi], turns: np.ndarray | None = None,
                video: bool = False) -> np.ndarray:
        """Crop ``rois`` from an RGB uint8 image and regress them in one batch -> float32 ``(B, 62)``
        (each in its plain crop's vertex frame; ``turns``: see :func:`~ddfa.pipeline.crop.crop_faces`;
        ``video``: with :attr:`video_regressor`)."""
        crops, _ = crop_faces(image, rois, turns=turns)
        params = (self.video_regressor if video else self.regressor)(crops)
        return params if turns is None else unturn_params(params, turns)

    def align(
        self,
        image: str | os.PathLike | np.ndarray,
        boxes: np.ndarray | Sequence[Sequence[float]] | None = None,
        *,
        landmarks: np.ndarray | Sequence[np.ndarray] | None = None,
        dense: bool = False,
        color: str = "rgb",
    ) -> list[Face]:
        """Align every face of an image; all faces go through the network in one batch.

        Args:
            image: a file path or an array (anything :func:`ddfa.io.load_image` accepts).
            boxes: ``(B, 4)`` face boxes x0, y0, x1, y1 in detector convention; the
                detector is skipped. Crops follow the calibrated box policy
                (:mod:`ddfa.pipeline.crop`). ``Face.score`` is then the share of the box inside
                the image; a box entirely outside is an ``InputError``.
            landmarks: instead of boxes, ``(B, P, 2+)`` (or one face's ``(P, 2+)``) points (e.g. the
                previous frame's 68 landmarks, or the two corners of a landmark
                bounding box); crops follow the training rule
                :func:`~ddfa.morphable.frames.roi_from_landmarks`. ``Face.box`` is
                then the points' bounding box.
            dense: reconstruct the dense vertices now (batched) instead of on access.
            color: channel order of an array ``image``: ``"rgb"`` (default) or ``"bgr"`` (e.g. the
                output of ``cv2.imread``; a BGR array passed as RGB gives wrong landmarks, silently).

        Returns:
            One :class:`Face` per box/detection, in detector-score (or input) order;
            an empty list when no face is found.
        """
        image = load_image(image, color)
        turns = None
        if boxes is not None and landmarks is not None:
            raise InputError("pass either boxes or landmarks, not both")
        if landmarks is not None:
            if not isinstance(landmarks, (list, tuple)):
                landmarks = np.asarray(landmarks)
                landmarks = landmarks[None] if landmarks.ndim == 2 else landmarks  # one face
            pts = [self._check_points(p) for p in landmarks]
            rois = [roi_from_landmarks(p) for p in pts]
            box_arr = np.array([np.r_[p.min(0), p.max(0)] for p in pts], np.float32).reshape(-1, 4)
            scores = box_inside_share(box_arr, image.shape)
        elif boxes is not None:
            box_arr = check_boxes(boxes).astype(np.float32)
            rois = [roi_from_box(b) for b in box_arr]
            scores = box_inside_share(box_arr, image.shape)
        elif self.any_rotation:
            from ddfa.pipeline.turned import align_any_rotation

            return align_any_rotation(self, image, dense)
        else:
            dets = self.detect(image)
            box_arr = np.array([d.box for d in dets], np.float32).reshape(-1, 4)
            rois = [roi_from_box(b) for b in box_arr]
            scores = np.array([d.score for d in dets], np.float32)
            turns = eye_turns(dets) if self.prerotate else None
        if not rois:
            return []
        params = self.regress(image, rois, turns)
        return build_faces(self.face_model, params, rois, box_arr, scores, dense=dense)

    @staticmethod
    def _check_points(points) -> np.ndarray:
        p = np.asarray(points, np.float64)
        if p.ndim != 2 or p.shape[1] < 2 or len(p) < 2 or not np.isfinite(p).all():
            raise InputError(f"each face's landmarks must be finite (P >= 2, 2 or 3) points, got shape {p.shape}")
        span = p[:, :2].max(0) - p[:, :2].min(0)
        if span.max() <= 1:
            raise InputError("landmarks span less than one pixel; cannot build a crop")
        return p[:, :2]

    def track(self, frames: Iterable[np.ndarray], fps: float = 30.0, color: str = "rgb",
              **options) -> Iterator[list[Face]]:
        """Align a stream of frames (uint8 arrays, RGB or with ``color="bgr"`` BGR) with stable
        ``Face.track_id``.

        Crops follow the previous frame's landmarks; the detector runs again
        when a face is lost and periodically to find new faces. ``options`` go to
        :class:`~ddfa.pipeline.tracking.FaceTracker` (smoothing, detection
        interval, ...). Yields one list of faces per frame.

        Raises:
            InputError: ``frames`` is not an iterable of frames, or the aligner has ``any_rotation``.
        """
        from ddfa.pipeline.tracking import FaceTracker

        if frames is None or isinstance(frames, (np.ndarray, str, os.PathLike)) or not isinstance(frames, Iterable):
            raise InputError("track() needs an iterable of frames (e.g. a list of arrays or "
                             f"ddfa.pipeline.video.VideoReader(...).frames()), got {type(frames).__name__}")
        if self.any_rotation:
            raise InputError("any_rotation is for still images; video tracking does not support it "
                             "(turn the frames upright first)")
        tracker = FaceTracker(self, **options)
        return (tracker.update(frame, timestamp=i / fps, color=color) for i, frame in enumerate(frames))
