"""Batch analysis benchmark: files per minute and media seconds per wall second of
``python -m emotion batch`` on 20 short talking-face clips, with ``--engine local``, and with
``--engine ray`` on 1 and on 2 actors (1 CPU each); the scaling ratio from 1 to 2 actors.

    python -m bench.bench_batch [--clips 20] [--seconds 8] [--runs 1] [--workers 1 2]

Input, built in a temporary directory and deleted afterwards: ``--clips`` MP4 files, 640x360 at
25 fps, H.264 + AAC 48 kHz, each ``--seconds`` long: scikit-image's astronaut photo (one real face)
gliding over a grey background, and real RAVDESS sentences from ``../shared/data/ravdess``
(research-only, never copied into the repo), different ones in each clip. Faces are sampled at
2 fps (the default).

Two figures per engine:

- end to end: from the call to the last file written, the workers' start and model loading
  included (Ray itself is started once, before, and not counted);
- steady: the rate between the first and the last file finished, (n - 1) files over that time:
  what a long archive approaches.

Every run writes to a fresh folder. Media seconds are the clips' stated durations.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from bench.bench_video import RAVDESS, write_talking_clip  # noqa: E402
from emotion.batch import BatchReport, FileResult, ray_init, run_batch  # noqa: E402
from emotion.speech.audio import load_audio  # noqa: E402


def make_clips(folder: Path, n: int, seconds: float) -> list[Path]:
    """``n`` talking-face MP4 clips of ``seconds`` each in ``folder``, each with its own RAVDESS
    sentences (0.5 s of silence before each).

    Raises:
        SystemExit: RAVDESS is not in ../shared/data.
    """
    if not RAVDESS.exists():
        raise SystemExit(f"RAVDESS not found at {RAVDESS}: this benchmark needs ../shared/data")
    from skimage import data

    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    speech = sorted(RAVDESS.glob("Actor_*/*.flac"))[::37]
    rate, gap = 48_000, np.zeros(24_000, np.float32)
    clips, k = [], 0
    for i in range(n):
        parts, total = [], 0
        while total < seconds * rate:
            clip = load_audio(speech[k % len(speech)], sample_rate=rate)
            k += 1
            parts += [gap, clip]
            total += len(gap) + len(clip)
        audio = np.concatenate(parts)[: int(seconds * rate)]
        clips.append(write_talking_clip(folder / f"clip{i:02d}.mp4", photo, audio, width=640, height=360))
    return clips


def timed_run(inputs: list[str], out: Path, engine: str, workers: int | None) -> tuple[BatchReport, list[float]]:
    """One run; returns its report and the times (perf_counter) at which files finished."""
    finished: list[float] = []

    def on_result(r: FileResult) -> None:
        assert r.status == "ok", (r.path, r.error)
        finished.append(time.perf_counter())

    report = run_batch(inputs, str(out), engine=engine, workers=workers, progress=False, force=True, on_result=on_result)
    return report, finished


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=8.0, help="length of each clip")
    ap.add_argument("--runs", type=int, default=1, help="runs per configuration (median and p95 over them)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray actor counts to measure")
    ap.add_argument("--no-local", action="store_true", help="skip the local engine")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}; load average {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "clips"
        folder.mkdir()
        clips = make_clips(folder, args.clips, args.seconds)
        media = args.clips * args.seconds
        size = sum(c.stat().st_size for c in clips) / 2**20
        print(f"input: {args.clips} clips x {args.seconds:g} s = {media:g} media s, 640x360 H.264 + AAC, {size:.1f} MB")
        configs = ([] if args.no_local else [("local", None)]) + [("ray", w) for w in args.workers]
        if any(e == "ray" for e, _ in configs):
            t0 = time.perf_counter()
            ray_init(num_cpus=os.cpu_count())
            print(f"Ray started in {time.perf_counter() - t0:.1f} s (not counted)")
        names = {c: "local" if c[0] == "local" else f"ray, {c[1]} actor{'s' if c[1] > 1 else ''}" for c in configs}
        e2e: dict[str, list[float]] = {n: [] for n in names.values()}
        steady: dict[str, list[float]] = {n: [] for n in names.values()}
        for r in range(args.runs):  # round-robin, so a busy machine slows every configuration alike
            for (engine, workers), name in names.items():
                report, finished = timed_run([str(folder)], Path(tmp) / f"out-{engine}-{workers}-{r}", engine, workers)
                assert report.analysed == args.clips and report.failed == 0
                e2e[name].append(report.wall_s)
                steady[name].append((finished[-1] - finished[0]) / (len(finished) - 1))  # seconds per file
        results: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in names.values():
            e2e_a, steady_a = np.array(e2e[name]), np.array(steady[name])
            results[name] = (e2e_a, steady_a)
            med, p95 = float(np.median(e2e_a)), float(np.percentile(e2e_a, 95))
            s_med = float(np.median(steady_a))
            print(
                f"{name}: end to end median {med:.1f} s, p95 {p95:.1f} s (n={args.runs}): "
                f"{args.clips / med * 60:.1f} files/min, {media / med:.2f} media s per wall s; "
                f"steady {60 / s_med:.1f} files/min, {args.seconds / s_med:.2f} media s per wall s"
            )
        if "ray, 1 actor" in results and "ray, 2 actors" in results:
            (e1, s1), (e2, s2) = results["ray, 1 actor"], results["ray, 2 actors"]
            print(
                f"scaling 1 -> 2 actors: end to end x{np.median(e1) / np.median(e2):.2f}, "
                f"steady x{np.median(s1) / np.median(s2):.2f} (aim >= 1.7 on 2 cores)"
            )
    print(
        f"peak memory of this process (driver + the local engine's models): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
