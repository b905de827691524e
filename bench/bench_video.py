"""Video file benchmark: median and p95 wall time of VideoEmotionAnalyzer on a 720p talking-face clip, with
and without the annotated video, and the split between the faces and the soundtrack.

    python -m bench.bench_video [--seconds 24] [--runs 5] [--fps 2]

Input, built in a temporary directory and deleted afterwards: 1280x720 at 25 fps, H.264
(libx264, CRF 23) + AAC 48 kHz stereo, ``--seconds`` long; scikit-image's astronaut photo
(one real face) gliding left and right over a grey background, and real RAVDESS sentences
from ``../shared/data/ravdess`` (research-only, never copied into the repo) one after another
with 0.5 s of silence between them. Faces are sampled at ``--fps`` frames per second (the
app's default, 2). Run it on one thread, as the app's defaults do::

    OMP_NUM_THREADS=1 EMOTION_ORT_THREADS=1 python -m bench.bench_video

Speed is the clip's duration divided by the wall time (×1 = real time).
"""

from __future__ import annotations

import argparse
import io
import platform
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from emotion import FaceEmotionAnalyzer  # noqa: E402
from emotion.speech.analyzer import SpeechEmotionAnalyzer  # noqa: E402
from emotion.speech.audio import load_audio  # noqa: E402
from emotion.video import VideoEmotionAnalyzer  # noqa: E402

RAVDESS = ROOT.parent / "shared" / "data" / "ravdess"


def ravdess_speech(seconds: float, rate: int = 48_000) -> np.ndarray:
    """Real RAVDESS sentences (actors 1-4, every emotion) with 0.5 s gaps, mono float32 at ``rate`` Hz,
    exactly ``seconds`` long.

    Raises:
        SystemExit: RAVDESS is not in ../shared/data.
    """
    if not RAVDESS.exists():
        raise SystemExit(f"RAVDESS not found at {RAVDESS}: this benchmark needs ../shared/data")
    files = sorted(p for actor in ("Actor_01", "Actor_02", "Actor_03", "Actor_04") for p in (RAVDESS / actor).glob("*.flac"))
    gap = np.zeros(rate // 2, np.float32)
    parts, total = [gap], len(gap)
    for path in files[::5]:  # a spread of emotions and both sentences
        clip = load_audio(path, sample_rate=rate)
        parts += [clip, gap]
        total += len(clip) + len(gap)
        if total >= seconds * rate:
            break
    audio = np.concatenate(parts)[: int(seconds * rate)]
    return np.pad(audio, (0, int(seconds * rate) - len(audio)))


def write_talking_clip(
    path: Path, photo_bgr: np.ndarray, audio: np.ndarray, width: int = 1280, height: int = 720, fps: int = 25
) -> Path:
    """An MP4 (H.264 yuv420p, CRF 23; AAC 48 kHz stereo) as long as ``audio`` (mono float32, 48 kHz):
    ``photo_bgr`` scaled to ``height`` gliding 100 px left and right of the centre every 10 s
    (up to 63 px/s: slow enough to keep one track at 2 sampled frames a second)."""
    scale = height / photo_bgr.shape[0]
    photo = cv2.resize(photo_bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ph, pw = photo.shape[:2]
    rate = 48_000
    n_frames = int(len(audio) / rate * fps)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps, options={"crf": "23", "preset": "veryfast"})
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        a = out.add_stream("aac", rate=rate, layout="stereo")
        canvas = np.full((height, width, 3), 128, np.uint8)
        for i in range(n_frames):
            frame = canvas.copy()
            x = int((width - pw) / 2 + 100 * np.sin(2 * np.pi * i / (10 * fps)))
            frame[:, x : x + pw] = photo
            vf = av.VideoFrame.from_ndarray(frame, format="bgr24")
            vf.pts = i
            out.mux(v.encode(vf))
        out.mux(v.encode(None))
        for i in range(0, len(audio), 1024):
            block = audio[i : i + 1024]
            af = av.AudioFrame.from_ndarray(np.stack([block, block]).astype(np.float32), format="fltp", layout="stereo")
            af.sample_rate, af.pts, af.time_base = rate, i, Fraction(1, rate)
            out.mux(a.encode(af))
        out.mux(a.encode(None))
    return path


def line(name: str, seconds: np.ndarray, duration: float) -> str:
    med, p95 = float(np.median(seconds)), float(np.percentile(seconds, 95))
    return (
        f"{name}: median {med:.2f} s ({duration / med:.1f}x real time), "
        f"p95 {p95:.2f} s ({duration / p95:.1f}x real time) (n={len(seconds)})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=24.0, help="length of the clip")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per measurement (after one untimed)")
    ap.add_argument("--fps", type=float, default=2.0, help="frames analysed per second")
    args = ap.parse_args()

    from skimage import data

    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    faces = FaceEmotionAnalyzer()
    speech = SpeechEmotionAnalyzer.from_settings()
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_talking_clip(Path(tmp) / "talk.mp4", photo, ravdess_speech(args.seconds))
        video = clip.read_bytes()
    duration = args.seconds

    faces_only = VideoEmotionAnalyzer(faces, None)
    full = VideoEmotionAnalyzer(faces, speech)
    check = full.analyze(video, sample_fps=args.fps, annotate=True)
    tracked = {f.face_id for _, fs in check.faces for f in fs}
    found = sum(bool(fs) for _, fs in check.faces)
    assert found >= 0.9 * len(check.faces), f"the face was found on only {found} of {len(check.faces)} sampled frames"
    with av.open(io.BytesIO(check.annotated_video)) as c:
        out_frames = sum(1 for _ in c.decode(video=0))
        out_size = f"{c.streams.video[0].width}x{c.streams.video[0].height}"

    runs = {
        "faces (decode + detect + track), no annotated video": lambda: faces_only.analyze(video, sample_fps=args.fps),
        "faces + annotated video (decode + detect + track + draw + H.264/AAC encode)": lambda: faces_only.analyze(
            video, sample_fps=args.fps, annotate=True
        ),
        "soundtrack (decode + VAD + Whisper + acoustic + semantic)": lambda: list(speech.analyze_file(video)),
        "whole analysis, no annotated video": lambda: full.analyze(video, sample_fps=args.fps),
        "whole analysis + annotated video": lambda: full.analyze(video, sample_fps=args.fps, annotate=True),
    }
    print(
        f"machine: {platform.processor() or platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    )
    print(
        f"clip: 1280x720, 25 fps, {duration:.0f} s, H.264 + AAC, {len(video) / 2**20:.1f} MB; "
        f"faces sampled at {args.fps:g} fps: {len(check.faces)} frames, face found on {found}, "
        f"{len(tracked)} face ID(s); {len(check.utterances)} utterances"
    )
    print(
        f"annotated video: {out_size}, {out_frames} frames, {len(check.annotated_video) / 2**20:.2f} MB "
        f"({len(check.annotated_video) / len(video):.0%} of the input)"
    )
    # round-robin, so a busy machine slows every measurement alike
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(args.runs + 1):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            if r:  # the first round is untimed (warm-up)
                times[name].append(time.perf_counter() - t0)
    for name, secs in times.items():
        print(line(name, np.array(secs), duration))
    faces_s, annotated_s = (float(np.median(times[k])) for k in list(runs)[:2])
    print(f"annotated video's own cost: {(annotated_s - faces_s) / out_frames * 1e3:.1f} ms per frame (median difference)")


if __name__ == "__main__":
    main()
