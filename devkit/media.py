"""Media files for the fake camera and microphone of the browser tests, made from real photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def face_scene(photo_bgr: np.ndarray, width: int = 640, height: int = 480) -> np.ndarray:
    """``photo_bgr`` scaled to fit ``height`` and centred on a grey width x height canvas (BGR uint8)."""
    scale = min(height / photo_bgr.shape[0], width / photo_bgr.shape[1])
    im = cv2.resize(photo_bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 128, np.uint8)
    y, x = (height - im.shape[0]) // 2, (width - im.shape[1]) // 2
    canvas[y : y + im.shape[0], x : x + im.shape[1]] = im
    return canvas


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 15) -> Path:
    """Write BGR uint8 frames (all the same even size) as an uncompressed YUV4MPEG2 (4:2:0) file,
    the format Chromium's ``--use-file-for-fake-video-capture`` reads."""
    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


AUDIO_CODECS = {"wav": "pcm_s16le", "flac": "flac", "mp3": "libmp3lame", "ogg": "libopus", "m4a": "aac", "webm": "libopus"}


def write_audio(path: Path, samples: np.ndarray, rate: int = 16_000, channels: int = 1) -> Path:
    """Encode mono float32 ``samples`` (at ``rate`` Hz) into the container named by ``path``'s
    extension (wav, flac, mp3, ogg, m4a, webm) with PyAV; ``channels`` > 1 duplicates the signal."""
    import av

    ext = Path(path).suffix.lstrip(".")
    codec = AUDIO_CODECS[ext]
    layout = {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate if codec != "libopus" else 48_000, layout=layout)
        x = np.clip(np.asarray(samples, np.float32), -1, 1)
        frame_len = 1024
        fmt = "s16" if codec == "pcm_s16le" else "fltp"
        resampler = av.AudioResampler(
            format=stream.codec_context.format.name, layout=layout, rate=stream.codec_context.sample_rate
        )
        for i in range(0, len(x), frame_len):
            block = x[i : i + frame_len]
            data = np.tile(block, (channels, 1))
            if fmt == "s16":
                frame = av.AudioFrame.from_ndarray((data.T.reshape(1, -1) * 32767).astype(np.int16), format="s16", layout=layout)
            else:
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="fltp", layout=layout)
            frame.sample_rate = rate
            for rf in resampler.resample(frame):
                out.mux(stream.encode(rf))
        for rf in resampler.resample(None):
            out.mux(stream.encode(rf))
        out.mux(stream.encode(None))
    return Path(path)


def webrtc_frames(samples: np.ndarray, rate: int = 16_000, out_rate: int = 48_000, channels: int = 2, frame_ms: int = 20):
    """Mono float32 ``samples`` as WebRTC-like ``av.AudioFrame`` objects: packed s16, 48 kHz, stereo, 20 ms,
    with timestamps as aiortc gives them (pts in samples, time base 1 / 48 kHz)."""
    from fractions import Fraction

    import av
    import soxr

    x = soxr.resample(np.asarray(samples, np.float32), rate, out_rate) if rate != out_rate else np.asarray(samples, np.float32)
    n = out_rate * frame_ms // 1000
    layout = "stereo" if channels == 2 else "mono"
    frames = []
    for k, i in enumerate(range(0, len(x) - n + 1, n)):
        block = (np.clip(x[i : i + n], -1, 1) * 32767).astype(np.int16)
        inter = np.repeat(block, channels).reshape(1, -1)
        f = av.AudioFrame.from_ndarray(inter, format="s16", layout=layout)
        f.sample_rate = out_rate
        f.pts, f.time_base = k * n, Fraction(1, out_rate)
        frames.append(f)
    return frames


def write_video(path: Path, image_bgr: np.ndarray, seconds: float, fps: int = 10, audio: np.ndarray | None = None) -> Path:
    """An mp4 (MPEG-4 video, AAC audio) showing ``image_bgr`` for ``seconds``, with mono 16 kHz
    ``audio`` as its soundtrack when given (PyAV)."""
    import av

    h, w = image_bgr.shape[:2]
    with av.open(str(path), "w") as out:
        v = out.add_stream("mpeg4", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = out.add_stream("aac", rate=16_000, layout="mono") if audio is not None else None
        for _ in range(int(seconds * fps)):
            for packet in v.encode(av.VideoFrame.from_ndarray(image_bgr, format="bgr24")):
                out.mux(packet)
        for packet in v.encode(None):
            out.mux(packet)
        if a is not None:
            x = np.asarray(audio, np.float32)
            for i in range(0, len(x), 1024):
                frame = av.AudioFrame.from_ndarray(x[i : i + 1024][None].copy(), format="fltp", layout="mono")
                frame.sample_rate = 16_000
                for packet in a.encode(frame):
                    out.mux(packet)
            for packet in a.encode(None):
                out.mux(packet)
    return Path(path)


def chromium_media_args(y4m: Path, wav: Path | None = None) -> list[str]:
    """Chromium flags for a fake camera playing ``y4m`` and, when given, a fake microphone
    playing ``wav`` (absolute paths without ``..``), granted without a prompt."""
    args = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}",
        "--disable-background-networking",
        "--no-sandbox",
    ]
    return args + ([f"--use-file-for-fake-audio-capture={wav}"] if wav else [])


def fake_microphone_wav(path: Path, clips: list[np.ndarray], pause_s: float = 1.0, gain: float = 3.0) -> Path:
    """A 16-bit 48 kHz WAV for Chromium's fake microphone: mono 16 kHz float32 ``clips`` (real
    speech) each preceded by ``pause_s`` seconds of silence, with a pause at the end, times
    ``gain`` (RAVDESS is quiet); returns the absolute path."""
    import soxr

    pause = np.zeros(round(pause_s * 16_000), np.float32)
    audio = np.concatenate([part for clip in clips for part in (pause, np.asarray(clip, np.float32))] + [pause]) * gain
    return write_audio(path, soxr.resample(audio, 16_000, 48_000).astype(np.float32), 48_000).resolve()


def write_av_clip(
    path: Path,
    frames_bgr: list[np.ndarray],
    times_s: list[float],
    audio: np.ndarray | None = None,
    audio_start_s: float = 0.0,
    rotation: int = 0,
) -> Path:
    """A video file (container by ``path``'s extension: mp4 or mkv) built with PyAV: H.264 frames
    ``frames_bgr`` (BGR uint8, all one even size) shown at ``times_s`` (seconds; any spacing:
    variable frame rates), and mono 16 kHz ``audio`` (AAC) whose first sample is at
    ``audio_start_s`` seconds on the same timeline. ``rotation`` is written into the display
    matrix (counter-clockwise degrees, what ``av.VideoFrame.rotation`` reads back; a phone held
    upright stores its frames sideways with -90)."""
    from fractions import Fraction

    import av

    h, w = frames_bgr[0].shape[:2]
    ms = Fraction(1, 1000)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.codec_context.time_base = ms
        if rotation:
            v.set_display_rotation(rotation)
        a = out.add_stream("aac", rate=16_000, layout="mono") if audio is not None else None
        for image, t in zip(frames_bgr, times_s, strict=True):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = round(t * 1000), ms
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        if a is not None:
            x = np.asarray(audio, np.float32)
            first = round(audio_start_s * 16_000)
            for i in range(0, len(x), 1024):
                frame = av.AudioFrame.from_ndarray(x[i : i + 1024][None].copy(), format="fltp", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = 16_000, first + i, Fraction(1, 16_000)
                out.mux(a.encode(frame))
            out.mux(a.encode(None))
    return Path(path)
