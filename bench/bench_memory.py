"""Server memory under hostile concurrent uploads (issue 23): a bench, not a test.

Measures the resident memory (RSS) of a real ``streamlit run localapp.py`` (the process and
any children, sampled every 0.2 s from /proc in a background thread, peak kept) while
several browser tabs upload, all at once, a small file that decodes to a huge picture:

- ``png``: a 7000x7000 RGBA PNG (49 Mpx, under the 50 Mpx pixel cap; ~200 KB on disk), to
  the Photo page;
- ``mkv``: an MKV holding two 16000x16000 H.264 frames (~750 KB), to the Video file page;
- ``avi``: an AVI holding two 13200x13200 MJPEG frames (a few MB), to the Video file page.
  libavcodec's MJPEG encoder refuses 16000x16000 (its worst-case packet size overflows an
  int: "Invalid minimum required packet size"), 13300 is about the largest it writes.

Each run (one case, one repeat) starts a fresh server, warms it so that every model is
loaded (the Photo page with scikit-image's astronaut, the Audio file page with a RAVDESS
sentence from ``--ravdess PATH`` or ../shared/data, a sine without one, and the Video file
page with a short astronaut video with that soundtrack), records the idle RSS, opens ``--tabs`` pages (one Chromium, one
context each: separate Streamlit sessions), sets the hostile file on every page's file input
together, waits until each page shows its result or error (``--timeout`` s), closes the
browser, waits ``--settle`` s and records the RSS again. The aim of issue 23: peak <= 1.5 GB
with every model loaded, back within 100 MB of idle 60 s after the tabs close.

    python bench/bench_memory.py --case all [--tabs 4] [--settle 60] [--repeat 1]

``--repo PATH`` runs the app (and this bench's helpers) of another checkout, e.g. a git
worktree of HEAD for a "before" figure. Needs the ``chromium`` binary and Playwright.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

CASES = {
    "png": ("Photo", "hostile_7000x7000_rgba.png", "Choose a photo to analyse."),
    "mkv": ("Video_file", "hostile_2x16000x16000_h264.mkv", "Choose a video to analyse."),
    "avi": ("Video_file", "hostile_2x13200x13200_mjpeg.avi", "Choose a video to analyse."),
}
MJPEG_SIDE = 13200
PROMPTS = ("Choose a photo to analyse.", "Choose a video to analyse.", "Choose an audio file to analyse.")

# Done: the script is not running and an alert other than the page's prompt (or an exception) is shown.
DONE_JS = """(prompts) => {
    const s = document.querySelector('[data-test-script-state]');
    if (!s || s.getAttribute('data-test-script-state') !== 'notRunning') return false;
    if (document.querySelector('[data-testid="stException"]')) return true;
    return [...document.querySelectorAll('[data-testid="stAlert"]')]
        .some(e => !prompts.some(p => e.innerText.includes(p)));
}"""
ALERTS_JS = """(prompts) => [...document.querySelectorAll('[data-testid="stAlert"], [data-testid="stException"]')]
    .map(e => e.innerText.trim()).filter(t => t && !prompts.some(p => t.includes(p)))"""


# ---------------------------------------------------------------- hostile and warm-up files


def hostile_png(path: Path, side: int = 7000) -> Path:
    """A side x side RGBA PNG of smooth bands (varying alpha) that deflates to a few hundred KB."""
    from PIL import Image

    i = np.arange(side)
    red = np.broadcast_to((i * 255 // (side - 1)).astype(np.uint8)[:, None], (side, side))
    green = np.broadcast_to(((i // 500) % 2 * 100 + 60).astype(np.uint8)[None, :], (side, side))
    blue = np.full((side, side), 128, np.uint8)
    alpha = (np.add.outer(i // 700, i // 700) % 4 * 60 + 75).astype(np.uint8)
    Image.fromarray(np.dstack([red, green, blue, alpha]), "RGBA").save(path, optimize=True)
    return path


def _flat_yuv420(side: int, yuv: tuple[int, int, int]) -> np.ndarray:
    """A flat frame as PyAV's planar 4:2:0 ndarray: Y rows, then U, then V (each side/4 rows)."""
    frame = np.empty((side * 3 // 2, side), np.uint8)
    frame[:side] = yuv[0]
    frame[side : side + side // 4] = yuv[1]
    frame[side + side // 4 :] = yuv[2]
    return frame


def hostile_video(path: Path, codec: str, side: int, frames: int = 2) -> Path:
    """``frames`` identical flat side x side frames encoded with ``codec`` (libx264 or mjpeg)."""
    import av

    pix = "yuvj420p" if codec == "mjpeg" else "yuv420p"
    with av.open(str(path), "w") as out:
        v = out.add_stream(codec, rate=1)
        v.width = v.height = side
        v.pix_fmt = pix
        if codec == "libx264":
            v.options = {"preset": "ultrafast"}
        for k in range(frames):
            frame = av.VideoFrame.from_ndarray(_flat_yuv420(side, (120, 140, 110)), format="yuv420p")
            if pix != "yuv420p":
                frame = frame.reformat(format=pix)
            frame.pts = k
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


def hostile_file(case: str, tmp: Path) -> Path:
    path = tmp / CASES[case][1]
    if not path.exists():
        if case == "png":
            hostile_png(path)
        elif case == "mkv":
            hostile_video(path, "libx264", 16000)
        else:
            hostile_video(path, "mjpeg", MJPEG_SIDE)
    return path


def _ravdess_dirs(given: Path | None) -> list[Path]:
    """Where a RAVDESS folder may be: ``--ravdess``, the checkout's ../shared/data, this file's."""
    dirs = [given] if given else []
    try:
        from devkit.data import RAVDESS

        dirs.append(RAVDESS)
    except Exception:
        pass
    return dirs + [Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess"]


def warmup_files(tmp: Path, ravdess: Path | None = None) -> tuple[dict[str, Path], str]:
    """A normal photo, speech WAV and short video (astronaut + that speech) for the warm-up, and
    what the speech is."""
    import cv2
    from skimage.data import astronaut

    from devkit.media import write_audio, write_video
    from emotion.speech.audio import load_audio

    photo = tmp / "astronaut.png"
    bgr = astronaut()[:, :, ::-1].copy()
    cv2.imwrite(str(photo), bgr)
    clips = [d / "Actor_01" / "03-01-01-01-01-01-01.flac" for d in _ravdess_dirs(ravdess)]
    clip = next((c for c in clips if c.exists()), None)
    if clip is not None:
        pause = np.zeros(8_000, np.float32)  # RAVDESS is quiet: louder, with pauses, as the browser tests do
        speech = np.concatenate([pause, np.clip(load_audio(clip) * 3.0, -1, 1), pause]).astype(np.float32)
        what = f"RAVDESS {clip.name}"
    else:  # a tone: the speech models still load, but Whisper may not run on it
        t = np.arange(3 * 16_000) / 16_000
        speech = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        what = "a 220 Hz sine (no RAVDESS found: pass --ravdess)"
    wav = write_audio(tmp / "speech.wav", speech)
    video = write_video(tmp / "astronaut.mp4", bgr, seconds=len(speech) / 16_000, fps=5, audio=speech)
    return {"Photo": photo, "Audio_file": wav, "Video_file": video}, what


# ---------------------------------------------------------------- memory sampling


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(pid: int) -> float:
    """RSS of ``pid`` and its children, MB (psutil when installed, else /proc)."""
    try:
        import psutil

        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total / 2**20
    except ImportError:
        return sum(_status_kb(p, "VmRSS") for p in _tree(pid)) / 1024
    except Exception:
        return 0.0


class Sampler(threading.Thread):
    """Samples :func:`rss_mb` every ``period`` s; :meth:`mark` starts a new peak window."""

    def __init__(self, pid: int, period: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.stop_event = threading.Event()
        self.last = self.window_peak = self.peak = 0.0

    def run(self) -> None:
        while not self.stop_event.is_set():
            value = rss_mb(self.pid)
            if value:
                self.last = value
                self.window_peak = max(self.window_peak, value)
                self.peak = max(self.peak, value)
            self.stop_event.wait(self.period)

    def mark(self) -> None:
        self.window_peak = self.last

    def settled(self, seconds: float = 3.0) -> float:
        """The median of the samples over the next ``seconds``."""
        values = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            values.append(self.last)
            time.sleep(self.period)
        return float(statistics.median(values))


# ---------------------------------------------------------------- browser


def wait_done(pages: list, timeout_s: float) -> list[tuple[float | None, str]]:
    """Poll every page until it is done (see ``DONE_JS``); per page: (seconds or None on a
    timeout, the first 120 characters of its alerts or of its body)."""
    start = time.monotonic()
    done: dict[int, float] = {}
    while len(done) < len(pages) and time.monotonic() - start < timeout_s:
        for k, page in enumerate(pages):
            if k not in done:
                try:
                    if page.evaluate(DONE_JS, list(PROMPTS)):
                        done[k] = time.monotonic() - start
                except Exception:  # a page mid-navigation or re-render
                    pass
        time.sleep(0.5)
    out = []
    for k, page in enumerate(pages):
        try:
            alerts = page.evaluate(ALERTS_JS, list(PROMPTS))
            text = " | ".join(alerts) if alerts else "(no alert) " + page.inner_text("body", timeout=5000)
        except Exception as exc:
            text = f"(page unreadable: {exc})"
        out.append((done.get(k), " ".join(text.split())[:120]))
    return out


def open_page(context, url: str, page_name: str, prompt: str):
    page = context.new_page()
    page.goto(f"{url}/{page_name}")
    page.get_by_text(prompt).wait_for(timeout=120_000)
    return page


def warm_up(browser, url: str, files: dict[str, Path], timeout_s: float) -> list[str]:
    prompts = {"Photo": PROMPTS[0], "Video_file": PROMPTS[1], "Audio_file": PROMPTS[2]}
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    shown = []
    try:
        for name in ("Photo", "Audio_file", "Video_file"):
            t0 = time.monotonic()
            page = open_page(context, url, name, prompts[name])
            page.locator("input[type=file]").set_input_files(str(files[name]))
            ((secs, text),) = wait_done([page], timeout_s)
            shown.append(f"{name}: {text[:100]} ({time.monotonic() - t0:.0f} s{'' if secs else ', TIMED OUT'})")
            page.close()
    finally:
        context.close()
    return shown


# ---------------------------------------------------------------- one run


def _browse(result: dict, case: str, args, url: str, warm: dict[str, Path], hostile: Path, chromium: str, sampler) -> None:
    """Warm-up, idle reading, the concurrent uploads and their peak, into ``result``."""
    from playwright.sync_api import sync_playwright

    page_name, _, prompt = CASES[case]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-background-networking"])
        try:
            result["warmup"] = warm_up(browser, url, warm, args.timeout)
            time.sleep(args.idle_wait)
            result["idle"] = sampler.settled()
            contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(args.tabs)]
            pages = [open_page(c, url, page_name, prompt) for c in contexts]
            time.sleep(1.0)
            sampler.mark()
            t0 = time.monotonic()
            for page in pages:  # each call returns once the file is set; the uploads then run together
                page.locator("input[type=file]").set_input_files(str(hostile))
            result["spread"] = time.monotonic() - t0
            result["pages"] = wait_done(pages, args.timeout)
            result["upload_s"] = time.monotonic() - t0
            for c in contexts:
                c.close()
        finally:
            result["peak"] = sampler.window_peak
            browser.close()


def one_run(case: str, args, tmp: Path, warm: dict[str, Path], chromium: str) -> dict:
    """A fresh server: warm-up, idle, uploads, settle; the readings (MB) and what the pages showed."""
    from devkit.server import start_app, stop_app

    hostile = hostile_file(case, tmp)
    nan = float("nan")
    result: dict = {
        "case": case,
        "file": f"{hostile.name} ({hostile.stat().st_size / 1024:.0f} KB)",
        "idle": nan,
        "peak": nan,
        "after": nan,
        "settle_peak": nan,
        "upload_s": nan,
        "spread": nan,
        "warmup": [],
        "pages": [],
        "error": None,
        "hwm": nan,
    }
    t_start = time.monotonic()
    log_path = tmp / f"server-{case}.log"
    proc, url = start_app(log_path, timeout_s=120)
    sampler = Sampler(proc.pid)
    sampler.start()
    try:
        try:
            _browse(result, case, args, url, warm, hostile, chromium, sampler)
        except Exception as exc:  # reported with the readings so far
            result["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        sampler.mark()
        closed = time.monotonic()
        while time.monotonic() - closed < args.settle and proc.poll() is None:
            time.sleep(0.5)
        if proc.poll() is None:
            result["after"] = sampler.settled()
            result["hwm"] = _status_kb(proc.pid, "VmHWM") / 1024
        result["settle_peak"] = sampler.window_peak
    finally:
        result["server_alive"] = proc.poll() is None
        result["exit_code"] = proc.returncode
        sampler.stop_event.set()
        stop_app(proc)
        result["wall_s"] = time.monotonic() - t_start
        result["tracebacks"] = log_path.read_text(errors="replace").count("Traceback (most recent call last)")
    return result


def report(results: list[dict], args) -> None:
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{args.tabs} tabs, settle {args.settle:.0f} s, repo {ROOT}"
    )
    head = f"{'case':<5} {'run':>3} {'idle MB':>8} {'peak MB':>8} {'after MB':>9} {'after-idle':>10} {'peak-idle':>9} {'uploads s':>9} {'run s':>6}"
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r['case']:<5} {r['run']:>3} {r['idle']:>8.0f} {r['peak']:>8.0f} {r['after']:>9.0f} "
            f"{r['after'] - r['idle']:>+10.0f} {r['peak'] - r['idle']:>+9.0f} {r['upload_s']:>9.0f} {r['wall_s']:>6.0f}"
        )
    if args.repeat > 1:
        for case in dict.fromkeys(r["case"] for r in results):
            rs = [r for r in results if r["case"] == case]
            med = {k: statistics.median(r[k] for r in rs) for k in ("idle", "peak", "after", "upload_s", "wall_s")}
            print(
                f"{case:<5} {'med':>3} {med['idle']:>8.0f} {med['peak']:>8.0f} {med['after']:>9.0f} "
                f"{med['after'] - med['idle']:>+10.0f} {med['peak'] - med['idle']:>+9.0f} {med['upload_s']:>9.0f} {med['wall_s']:>6.0f}"
            )
    for r in results:
        print(
            f"\n[{r['case']} run {r['run']}] {r['file']}; uploads set within {r['spread']:.2f} s; "
            f"server alive after: {r['server_alive']}; peak while settling {r['settle_peak']:.0f} MB; "
            f"kernel VmHWM {r['hwm']:.0f} MB; tracebacks in log: {r['tracebacks']}"
            + ("" if r["server_alive"] else f"; SERVER DIED (exit code {r['exit_code']})")
        )
        if r["error"]:
            print(f"  bench error: {r['error']}")
        print("  warm-up: " + "; ".join(r["warmup"]))
        for k, (secs, text) in enumerate(r["pages"], start=1):
            print(f"  tab {k}: {'timed out' if secs is None else f'{secs:.0f} s'}: {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=[*CASES, "all"], default="all")
    parser.add_argument("--tabs", type=int, default=4, help="pages uploading the file at once")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds after the tabs close before the last reading")
    parser.add_argument("--idle-wait", type=float, default=20.0, help="seconds after the warm-up before the idle reading")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for each page's result")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case (a fresh server each); medians printed")
    parser.add_argument("--ravdess", type=Path, help="RAVDESS folder for the warm-up speech (default: ../shared/data/ravdess)")
    parser.add_argument("--repo", type=Path, default=ROOT, help="the checkout whose app runs (default: this one)")
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if not chromium:
        raise SystemExit("needs the chromium binary (apt-get install chromium)")
    cases = list(CASES) if args.case == "all" else [args.case]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as d:
        tmp = Path(d)
        warm, speech = warmup_files(tmp, args.ravdess)
        print(f"warm-up speech: {speech}", flush=True)
        for case in cases:
            t = time.monotonic()
            hostile_file(case, tmp)
            print(f"{case}: made {CASES[case][1]} in {time.monotonic() - t:.0f} s", flush=True)
            for run in range(1, args.repeat + 1):
                r = one_run(case, args, tmp, warm, chromium)
                r["run"] = run
                results.append(r)
                print(
                    f"{case} run {run}: idle {r['idle']:.0f} MB, peak {r['peak']:.0f} MB, after {r['after']:.0f} MB "
                    f"({r['wall_s']:.0f} s)",
                    flush=True,
                )
    report(results, args)


def _root() -> Path:
    """The checkout to run: ``--repo PATH`` when given (read before the imports), else this one."""
    argv = sys.argv[1:]
    for k, a in enumerate(argv):
        if a == "--repo" and k + 1 < len(argv):
            return Path(argv[k + 1]).resolve()
        if a.startswith("--repo="):
            return Path(a.split("=", 1)[1]).resolve()
    return Path(__file__).resolve().parents[1]


ROOT = _root()

if __name__ == "__main__":
    main()
