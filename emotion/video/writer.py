"""The annotated copy of a video: its frames with the faces drawn, upright, in an in-memory MP4
(H.264 yuv420p, the soundtrack in AAC), its size bounded by its bitrate (:func:`annotated_bitrate`)."""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Sequence
from fractions import Fraction

import av
import cv2

from ..errors import InputError
from ..face.draw import draw_faces
from ..face.track import TrackedFace
from ..media import display_rotation, downmix_unnamed_layout, upright
from .decoding import frame_rate

log = logging.getLogger(__name__)

ANNOTATED_MAX_SIDE = 640
"""Longest side (px) of the annotated video; smaller sources keep their size (rounded down to even)."""
ANNOTATED_MAX_BITRATE = 1_500_000
"""Highest video bitrate (bit/s) of the annotated video."""
ANNOTATED_MIN_BITRATE = 200_000
"""Lowest video bitrate (bit/s) of the annotated video, whatever the input's."""
ANNOTATED_AUDIO_BITRATE = 96_000
"""AAC bitrate (bit/s) of the annotated video's soundtrack."""

AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
"""Sample rates (Hz) the AAC encoder takes; others are resampled to 48 kHz."""


def annotated_size(width: int, height: int, max_side: int = ANNOTATED_MAX_SIDE) -> tuple[int, int]:
    """(width, height) in pixels of the annotated copy of a ``width`` x ``height`` video:
    scaled down (never up) so the longer side is at most ``max_side``, aspect kept, both even
    (H.264 in yuv420p needs even sides) and at least 2.

    Raises:
        ValueError: a size or ``max_side`` below 1.
    """
    if width < 1 or height < 1 or max_side < 2:
        raise ValueError(f"bad size {width}x{height} or max_side {max_side}")
    scale = min(1.0, max_side / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def annotated_bitrate(input_bytes: int | None, duration_s: float | None, audio: bool = False) -> int:
    """Video bitrate (bit/s) of the annotated copy, chosen so it is not larger than about the input.

    ``min(ANNOTATED_MAX_BITRATE, input bits / duration − ANNOTATED_AUDIO_BITRATE if audio)``,
    and at least :data:`ANNOTATED_MIN_BITRATE`; :data:`ANNOTATED_MAX_BITRATE` when the size or
    the duration is unknown. The encoder treats it as a cap (x264 constant quality, CRF 23, with
    a VBV ``maxrate`` of this value and a 2 s buffer): simple content comes out smaller, and the
    output is at most about ``(bitrate + audio) × duration + 2 s × bitrate`` plus the container.
    So an upload within the 200 MB limit gives an annotated copy of about its size or less
    (larger only for inputs below the floor of 200 kbit/s).
    """
    if not input_bytes or not duration_s or duration_s <= 0:
        return ANNOTATED_MAX_BITRATE
    rate = input_bytes * 8 / duration_s - (ANNOTATED_AUDIO_BITRATE if audio else 0)
    return int(max(ANNOTATED_MIN_BITRATE, min(ANNOTATED_MAX_BITRATE, rate)))


class AnnotatedVideoWriter:
    """Encodes frames with faces drawn into an in-memory MP4 (H.264 yuv420p + AAC).

    The output is opened at the first video frame, whose display matrix says how to turn the
    frames upright (audio that comes before it waits); every frame is written upright.
    """

    def __init__(
        self,
        video: av.video.stream.VideoStream,
        audio: av.audio.stream.AudioStream | None,
        input_bytes: int | None,
        duration_s: float | None,
        max_side: int,
        origin: float = 0.0,
        max_fps: int = 60,
    ):
        self._source_size = video.codec_context.width, video.codec_context.height
        if not all(self._source_size):
            raise InputError("the video's frame size is unknown")
        self.max_side = max_side
        self.origin = origin
        self.rate = frame_rate(video, max_fps)
        self.rotation = 0
        self.width, self.height = annotated_size(*self._source_size, max_side)
        self.notes: list[str] = []
        self._bitrate = annotated_bitrate(input_bytes, duration_s, audio=audio is not None)
        self._audio_in = audio if audio is not None and audio.codec_context.sample_rate else None
        self._early_audio: list[av.AudioFrame] = []
        self._out: av.container.OutputContainer | None = None
        self._buf = io.BytesIO()
        self._last_pts = -1
        self._audio: av.audio.stream.AudioStream | None = None
        self._audio_pts: int | None = None

    def _start(self, rotation: int) -> None:
        """Open the output for frames turned ``rotation`` degrees clockwise to be upright."""
        self.rotation = rotation
        w, h = self._source_size
        self.width, self.height = annotated_size(*((h, w) if rotation in (90, 270) else (w, h)), self.max_side)
        # faststart (the index before the data, so browsers play at once) re-reads the file at
        # the end; io_open hands FFmpeg a read-only copy of what was written: nothing on disk.
        self._out = av.open(
            self._buf,
            "w",
            format="mp4",
            container_options={"movflags": "+faststart"},
            io_open=lambda _url, _flags, _options: io.BytesIO(self._buf.getvalue()),
        )
        self._video = self._out.add_stream("libx264", rate=self.rate)
        self._video.width, self._video.height, self._video.pix_fmt = self.width, self.height, "yuv420p"
        self._video.codec_context.options = {
            "preset": "veryfast",
            "crf": "23",
            "maxrate": str(self._bitrate),
            "bufsize": str(2 * self._bitrate),
        }
        if self._audio_in is not None:
            in_rate = self._audio_in.codec_context.sample_rate
            self._audio_rate = in_rate if in_rate in AAC_RATES else 48_000
            layout = "mono" if self._audio_in.codec_context.channels == 1 else "stereo"
            self._audio = self._out.add_stream("aac", rate=self._audio_rate, layout=layout)
            self._audio.codec_context.bit_rate = ANNOTATED_AUDIO_BITRATE
            self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=self._audio_rate)
        early, self._early_audio = self._early_audio, []
        for frame in early:
            self.add_audio(frame)

    def add_video(self, frame: av.VideoFrame, t: float | None, faces: Sequence[TrackedFace]) -> None:
        """Write ``frame`` (shown at media time ``t`` s, or right after the previous one), turned
        upright, with ``faces`` (boxes in the upright frame's pixels) drawn. A frame that falls
        on the same output frame as the one before (a source faster than :attr:`rate`) is left
        out, so the copy keeps real time."""
        pts = round(t * self.rate) if t is not None else self._last_pts + 1
        if pts == self._last_pts and t is not None:
            return  # thinned: this output frame is already written
        pts = max(pts, self._last_pts + 1)  # timestamps that go back: keep the order
        if self._out is None:
            self._start(display_rotation(frame))
        if self.rotation:
            pre = (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)
            image = upright(frame.reformat(*pre, format="bgr24").to_ndarray(), self.rotation)
            source_w, source_h = (frame.height, frame.width) if self.rotation in (90, 270) else (frame.width, frame.height)
            out = None
        else:
            out = frame.reformat(self.width, self.height, format="yuv420p")
            image, (source_w, source_h) = None, (frame.width, frame.height)
        if faces or image is not None:
            if image is None:
                image = cv2.cvtColor(out.to_ndarray(), cv2.COLOR_YUV2BGR_I420)
            sx, sy = self.width / source_w, self.height / source_h
            scaled = [
                dataclasses.replace(
                    f,
                    box=(
                        round(f.box[0] * sx),
                        round(f.box[1] * sy),
                        max(1, round(f.box[2] * sx)),
                        max(1, round(f.box[3] * sy)),
                    ),
                )
                for f in faces
            ]
            draw_faces(image, scaled, copy=False)
            out = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
        self._last_pts = pts
        out.pts, out.time_base = pts, 1 / self.rate
        self._out.mux(self._video.encode(out))

    @property
    def has_audio(self) -> bool:
        """Whether the annotated copy (still) takes a soundtrack."""
        return self._audio is not None if self._out is not None else self._audio_in is not None

    def add_audio(self, frame: av.AudioFrame) -> None:
        """Write a decoded audio frame, resampled for AAC and laid end to end from the first
        frame's time (gaps in the source close up)."""
        if self._out is None:
            if self._audio_in is not None:
                self._early_audio.append(frame)  # the output opens at the first video frame
            return
        if self._audio is None:
            return
        try:
            if self._audio_pts is None:
                start = 0.0 if frame.time is None else float(frame.time) - self.origin
                self._audio_pts = max(0, round(start * self._audio_rate))
            frame = downmix_unnamed_layout(frame)
            frame.pts = None
            for f in self._resampler.resample(frame):
                self._encode_audio(f)
        except (av.error.FFmpegError, ValueError) as exc:
            self.audio_failed(f"the soundtrack could not be converted ({exc})")

    def _encode_audio(self, f: av.AudioFrame | None) -> None:
        if f is not None:
            f.pts, f.time_base = self._audio_pts, Fraction(1, self._audio_rate)
            self._audio_pts += f.samples
        self._out.mux(self._audio.encode(f))

    def audio_failed(self, message: str) -> None:
        """End the soundtrack here (what was written stays) and record ``message`` in :attr:`notes`."""
        if self._out is None and self._audio_in is not None:
            self._audio_in, self._early_audio = None, []
            self.notes.append(f"annotated video: {message}; it is silent")
        elif self._audio is not None:
            self.notes.append(f"annotated video: {message}; the rest is silent")
            self._end_audio()

    def _end_audio(self) -> None:
        if self._audio is None:
            return
        try:
            if self._audio_pts is not None:
                for f in self._resampler.resample(None):
                    self._encode_audio(f)
            self._encode_audio(None)
        except (av.error.FFmpegError, ValueError):
            pass  # keep what was written
        self._audio = None

    def close(self) -> bytes:
        """Flush the encoders and return the MP4 file's bytes.

        Raises:
            InputError: no video frame was written.
        """
        if self._out is None:
            raise InputError("no video frame was decoded")
        self._end_audio()
        self._out.mux(self._video.encode(None))
        self._out.close()
        return self._buf.getvalue()

    def abort(self) -> None:
        """Drop everything (after an error)."""
        try:
            if self._out is not None:
                self._out.close()
        except (av.error.FFmpegError, ValueError, OSError):
            pass
        self._buf = io.BytesIO()
