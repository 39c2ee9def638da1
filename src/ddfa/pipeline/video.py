"""Video and camera processing: frames in, annotated video and per-frame results out."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ddfa.errors import ImageError, InputError
from ddfa.export.mesh import write_json, write_npz
from ddfa.io import IMAGE_EXTENSIONS
from ddfa.pipeline.face import Face, faces_to_arrays
from ddfa.pipeline.kinds import OVERLAY_KINDS
from ddfa.pipeline.visualize import draw_faces

__all__ = ["StreamInterrupted", "StreamResults", "VideoInfo", "VideoReader", "VideoWriter", "have_pyav", "open_camera",
           "process_stream"]

# OpenCV's FFmpeg back end prints its own log lines ("moov atom not found", ...) on stderr; our errors
# say more. Read once, at the first capture: set here, before any. Set the variable yourself to see them.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


@dataclass(frozen=True)
class VideoInfo:
    """fps (frames per second), frame size in pixels, and frame count (0 when unknown, e.g. a camera)."""

    fps: float
    width: int
    height: int
    frame_count: int


class VideoReader:
    """Iterate over the RGB uint8 frames of a video file or a camera (``cv2.VideoCapture``).

    Raises:
        ImageError: the file is missing or cannot be decoded as a video.
    """

    def __init__(self, capture: cv2.VideoCapture, name: str, live: bool = False) -> None:
        self._cap = capture
        self.name = name
        self.live = live  # a camera: frames are timed by the clock, not by their index
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.info = VideoInfo(
            fps=float(fps) if np.isfinite(fps) and 1 <= fps <= 1000 else 30.0,
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            frame_count=max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))),
        )

    @classmethod
    def open(cls, path: str | os.PathLike) -> "VideoReader":
        path = Path(path)
        if not path.exists():
            raise ImageError(f"cannot read video '{path}': no such file")
        if path.is_dir():
            raise ImageError(f"cannot read video '{path}': it is a folder, not a file")
        if path.stat().st_size == 0:
            raise ImageError(f"cannot read video '{path}': the file is empty (0 bytes)")
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            raise ImageError(f"cannot read video '{path}': it is an image file; align it with `ddfa align`")
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise ImageError(f"cannot read video '{path}': not a video OpenCV can decode")
        reader = cls(cap, str(path))
        if reader.info.width <= 0 or reader.info.height <= 0:
            reader.close()
            raise ImageError(f"cannot read video '{path}': no video stream")
        return reader

    def skip(self, count: int) -> int:
        """Drop the next ``count`` frames (decoded, not converted); returns how many were dropped."""
        n = 0
        while n < count and self._cap.grab():
            n += 1
        return n

    def frames(self, max_frames: int | None = None) -> Iterator[np.ndarray]:
        """Yield up to ``max_frames`` RGB uint8 ``(H, W, 3)`` frames."""
        n = 0
        while max_frames is None or n < max_frames:
            ok, bgr = self._cap.read()
            if not ok:
                return
            n += 1
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if bgr.ndim == 3 else cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_camera(index: int = 0) -> VideoReader:
    """Open camera ``index`` with ``cv2.VideoCapture``.

    Raises:
        InputError: no camera with that index can be opened or read.
    """
    if not (isinstance(index, int) and index >= 0):
        raise InputError(f"camera index must be a non-negative integer, got {index!r}")
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # its own warnings say less than ours
    try:
        cap = cv2.VideoCapture(index)
        ok = cap.isOpened() and cap.grab()
    finally:
        cv2.utils.logging.setLogLevel(level)
    if not ok:
        cap.release()
        raise InputError(
            f"cannot open camera {index}: no camera found or it is in use "
            "(check that one is connected and that this process may access it, or pick another with --camera)"
        )
    return VideoReader(cap, f"camera {index}", live=True)


def have_pyav() -> bool:
    """Whether PyAV (the optional ``ddfa[video]`` extra) is installed: H.264 output with the source's audio."""
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


class VideoWriter:
    """MP4 writer that appears at ``path`` only once closed (temp file + rename); a video closed
    early (e.g. after Ctrl-C) is a complete, playable file of the frames written so far.

    With PyAV installed (``pip install ddfa[video]``): H.264 (libx264, yuv420p, CRF 23; odd frame sides
    are padded by one edge pixel) and the audio of ``audio_from`` copied without re-encoding, cut to the
    span of the frames written (``start`` seconds into the source). Without PyAV: OpenCV's MPEG-4 Part 2
    (``mp4v``), no audio, several times larger. PyAV's wheels bundle FFmpeg built with libx264 (GPL); see
    ``docs/robustness.md``.

    Args:
        codec: ``"auto"`` (H.264 when PyAV is there), ``"h264"`` (needs PyAV) or ``"mp4v"``.
    """

    def __init__(self, path: str | os.PathLike, fps: float, width: int, height: int,
                 audio_from: str | os.PathLike | None = None, start: float = 0.0, codec: str = "auto") -> None:
        if codec not in ("auto", "h264", "mp4v"):
            raise InputError(f"codec must be 'auto', 'h264' or 'mp4v', got {codec!r}")
        if codec == "h264" and not have_pyav():
            raise InputError("H.264 output needs PyAV: pip install 'ddfa[video]' (or pip install av)")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.stem}.{uuid.uuid4().hex[:8]}.tmp{self.path.suffix or '.mp4'}")
        self.fps, self.frames = float(fps), 0
        self.codec = "h264" if codec == "h264" or (codec == "auto" and have_pyav()) else "mp4v"
        if self.codec == "h264":
            self._open_av(width, height, audio_from, start)
        else:
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
            if not self._writer.isOpened():
                self._tmp.unlink(missing_ok=True)
                raise InputError(f"cannot write video '{self.path}' (use a .mp4 file name in a writable folder)")

    def _open_av(self, width: int, height: int, audio_from, start: float) -> None:
        import av
        from fractions import Fraction

        try:
            self._out = av.open(str(self._tmp), "w", format="mp4")
        except (OSError, av.FFmpegError) as exc:
            raise InputError(f"cannot write video '{self.path}' ({exc})") from None
        rate = Fraction(self.fps).limit_denominator(1001)
        self._video = self._out.add_stream("libx264", rate=rate, options={"crf": "23", "preset": "veryfast"})
        self._video.width, self._video.height = width + width % 2, height + height % 2
        self._video.pix_fmt = "yuv420p"
        self._audio_src, self._audio_in, self._audio_out, self._start = None, None, None, float(start)
        if audio_from is not None:
            try:
                src = av.open(str(audio_from))
            except (OSError, av.FFmpegError):
                return  # no readable audio: video only
            if src.streams.audio:
                self._audio_src, self._audio_in = src, src.streams.audio[0]
                self._audio_out = self._out.add_stream_from_template(self._audio_in)
            else:
                src.close()

    def write(self, rgb: np.ndarray) -> None:
        """Append one RGB uint8 ``(H, W, 3)`` frame."""
        self.frames += 1
        if self.codec == "mp4v":
            self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            return
        import av

        h, w = rgb.shape[:2]
        if (h % 2, w % 2) != (0, 0):
            rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        for packet in self._video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
            self._out.mux(packet)

    def _finish_av(self) -> None:
        for packet in self._video.encode():
            self._out.mux(packet)
        if self._audio_in is not None:
            tb = self._audio_in.time_base
            first = int(self._start / tb)
            end = int((self._start + self.frames / self.fps) / tb)
            for packet in self._audio_src.demux(self._audio_in):
                if packet.pts is None or packet.size == 0:
                    continue
                if packet.pts >= end:
                    break
                if packet.pts < first:
                    continue
                packet.pts -= first
                packet.dts = None if packet.dts is None else packet.dts - first
                packet.stream = self._audio_out
                self._out.mux(packet)
            self._audio_src.close()
        self._out.close()

    def close(self, keep: bool = True) -> None:
        """Finish the file and move it into place (``keep``), or delete it."""
        try:
            if self.codec == "mp4v":
                self._writer.release()
            elif keep:
                self._finish_av()
            else:
                self._out.close()
                if self._audio_src is not None:
                    self._audio_src.close()
        finally:
            if keep:
                os.replace(self._tmp, self.path)
            else:
                self._tmp.unlink(missing_ok=True)


@dataclass
class StreamResults:
    """Per-frame faces of a processed stream (kept without their dense meshes unless asked)."""

    info: VideoInfo
    source: str
    frames: list[list[Face]] = field(default_factory=list)
    num_frames: int = 0
    first_frame: int = 0  # index in the source of ``frames[0]``
    interrupted: bool = False  # stopped by Ctrl-C: ``frames`` holds what was done before it

    @property
    def num_faces(self) -> int:
        return sum(len(f) for f in self.frames)

    @property
    def track_ids(self) -> list[int]:
        return sorted({f.track_id for faces in self.frames for f in faces})

    def to_json(self) -> dict:
        return {
            "video": self.source, "fps": self.info.fps, "width": self.info.width, "height": self.info.height,
            "frames": [{"index": i, "time": round(i / self.info.fps, 4), "faces": [f.to_dict() for f in faces]}
                       for i, faces in enumerate(self.frames, start=self.first_frame)],
        }

    def to_arrays(self, dense: bool = False) -> dict[str, np.ndarray]:
        """All faces of all frames stacked (see :func:`faces_to_arrays`), plus ``frame`` (M,) source indices."""
        flat = [f for faces in self.frames for f in faces]
        out = faces_to_arrays(flat, dense=dense)
        out["frame"] = np.array([i for i, faces in enumerate(self.frames, start=self.first_frame) for _ in faces],
                                np.int64)
        out["fps"] = np.float32(self.info.fps)
        out["num_frames"] = np.int64(len(self.frames))
        return out

    def save(self, path: str | os.PathLike, dense: bool = False) -> Path:
        """Write ``.json`` or ``.npz`` (by suffix) atomically."""
        path = Path(path)
        if path.suffix.lower() == ".json":
            return write_json(path, self.to_json())
        if path.suffix.lower() == ".npz":
            return write_npz(path, self.to_arrays(dense))
        raise InputError(f"results file must end in .json or .npz, got '{path.name}'")


class StreamInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`process_stream`: the partial video was kept (playable) and ``results`` holds the
    frames done. A ``KeyboardInterrupt``, so code that expects one still stops."""

    def __init__(self, results: "StreamResults", output: Path | None) -> None:
        super().__init__(f"interrupted after {results.num_frames} frame(s)")
        self.results, self.output = results, output


def process_stream(
    aligner,
    reader: VideoReader,
    output: str | os.PathLike | None = None,
    draw: Sequence[str] = ("landmarks", "box"),
    max_frames: int | None = None,
    start_frame: int = 0,
    progress: bool = True,
    on_frame=None,
    keep_results: bool = True,
    keep_dense: bool = False,
    stop_on_interrupt: bool = False,
    codec: str = "auto",
    **tracker_options,
) -> StreamResults:
    """Track faces through a stream; optionally write an annotated MP4.

    Args:
        aligner: a :class:`~ddfa.pipeline.aligner.FaceAligner`.
        reader: the frames (:meth:`VideoReader.open` or :func:`open_camera`).
        output: annotated video path (``.mp4``, written atomically); None = no video.
        draw: overlay kinds (``OVERLAY_KINDS``) drawn on the output video.
        max_frames: stop after this many frames.
        start_frame: skip this many frames first.
        progress: show a progress bar on stderr.
        on_frame: called as ``on_frame(index, rgb_annotated, faces)`` after each frame.
        keep_results: keep every frame's faces in the result (False for endless
            camera streams: ``frames`` then stays empty).
        keep_dense: keep the faces' dense vertices too (for ``.npz`` results);
            otherwise they are dropped after drawing to bound the memory.
        stop_on_interrupt: end the stream normally on Ctrl+C (KeyboardInterrupt),
            keeping what was recorded (for cameras). Otherwise Ctrl+C keeps the partial video
            (a complete, playable file) and raises :class:`StreamInterrupted` with the results so far.
        codec: of the output video (see :class:`VideoWriter`).
        tracker_options: passed to :class:`~ddfa.pipeline.tracking.FaceTracker`.
    """
    from tqdm import tqdm

    from ddfa.pipeline.tracking import FaceTracker

    bad = set(draw) - set(OVERLAY_KINDS)
    if bad:
        raise InputError(f"video drawings must be overlays ({', '.join(OVERLAY_KINDS)}), got {sorted(bad)}")
    if max_frames is not None and not (isinstance(max_frames, int) and max_frames >= 1):
        raise InputError(f"max_frames must be a positive integer, got {max_frames!r}")
    if not (isinstance(start_frame, int) and start_frame >= 0):
        raise InputError(f"start_frame must be a non-negative integer, got {start_frame!r}")
    info = reader.info
    tracker = FaceTracker(aligner, **tracker_options)
    results = StreamResults(info, reader.name, first_frame=reader.skip(start_frame))
    writer = None  # opened on the first frame, at its size (decoders may rotate frames)
    left = max(info.frame_count - start_frame, 0)
    total = min(left, max_frames or left) if info.frame_count else max_frames
    ok, n_frames, start = False, 0, time.monotonic()
    try:
        with tqdm(total=total, unit="frame", disable=not progress, file=sys.stderr, desc=Path(reader.name).name,
                  dynamic_ncols=True) as bar:
            try:
                for i, frame in enumerate(reader.frames(max_frames)):
                    t = time.monotonic() - start if reader.live else (results.first_frame + i) / info.fps
                    faces = tracker.update(frame, timestamp=t)
                    if output is not None or on_frame is not None:
                        annotated = draw_faces(frame, faces, draw) if draw else frame
                        if output is not None:
                            if writer is None:
                                writer = VideoWriter(output, info.fps, frame.shape[1], frame.shape[0],
                                                     audio_from=None if reader.live else reader.name,
                                                     start=results.first_frame / info.fps, codec=codec)
                            writer.write(annotated)
                        if on_frame is not None:
                            on_frame(i, annotated, faces)
                    if keep_results:
                        if not keep_dense:
                            for face in faces:
                                face.__dict__.pop("vertices", None)  # drop the cached dense mesh
                        results.frames.append(faces)
                    n_frames += 1
                    bar.update(1)
                    bar.set_postfix(faces=len(faces), refresh=False)
            except KeyboardInterrupt:
                results.interrupted = True
        ok = True
    finally:
        if writer is not None:
            writer.close(keep=ok and n_frames > 0)
    results.num_frames = n_frames
    if results.interrupted and not stop_on_interrupt:
        raise StreamInterrupted(results, writer.path if writer is not None and n_frames else None)
    if not n_frames:
        raise ImageError(f"'{reader.name}' has no readable frame")
    return results
