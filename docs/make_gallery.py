"""Screenshots of every page, as a person sees them, for the README's gallery (``docs/gallery/``).

Starts ``streamlit run localapp.py`` on 127.0.0.1, opens each page in Debian chromium (Playwright)
at each width, with real media: the fake camera plays scikit-image's astronaut photo, the fake
microphone and the uploaded audio and video play real RAVDESS speech (``../shared/data``, needed),
the Photo page gets a group scene (real faces pasted onto a face-free photo), and saves
``<page>-<width>.png``.

    python docs/make_gallery.py                      # every page at 1280 and 1920 px
    python docs/make_gallery.py --pages dashboard --widths 1400 --out /tmp/shots
    python docs/make_gallery.py --pages photo --photo my.jpg --out /tmp/shots   # another photo
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402

from devkit.browser import open_and_start  # noqa: E402
from devkit.media import chromium_media_args, face_scene, fake_microphone_wav, write_av_clip, write_y4m  # noqa: E402
from devkit.photos import group_scene  # noqa: E402
from devkit.server import start_app, stop_app  # noqa: E402
from emotion.speech.audio import load_audio  # noqa: E402

RAVDESS = ROOT.parent / "shared" / "data" / "ravdess"
SENTENCES = [  # (actor, file): real speech, both RAVDESS sentences, several actors and emotions
    ("Actor_01", "03-01-01-01-01-01-01.flac"),
    ("Actor_02", "03-01-03-02-02-01-02.flac"),
    ("Actor_03", "03-01-04-02-01-02-03.flac"),
    ("Actor_04", "03-01-05-02-02-01-04.flac"),
]
PAGES = ("home", "dashboard", "photo", "camera", "voice", "audio", "video")
HEIGHT = 1300


def _speech() -> list[np.ndarray]:
    if not RAVDESS.exists():
        raise SystemExit(f"RAVDESS not found at {RAVDESS}: the gallery needs real speech")
    return [load_audio(RAVDESS / actor / name) for actor, name in SENTENCES]


def _settle(page, seconds: float = 2.0) -> None:
    page.wait_for_load_state("networkidle")
    time.sleep(seconds)


def _whole_page(page, path: Path) -> None:
    """Screenshot of the whole page: Streamlit scrolls inside its main area, so the window is
    made as tall as that area's content first."""
    width = page.viewport_size["width"]
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": width, "height": max(HEIGHT, min(int(height) + 40, 5000))})
    time.sleep(1.5)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": width, "height": HEIGHT})
    shrink(path)


def shrink(path: Path) -> None:
    """Rewrite a screenshot as a 256-colour PNG (a quarter of the size; text and charts stay sharp)."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def shoot(page, url: str, name: str, media: dict, out: Path) -> None:
    """Open page ``name``, put the media in, wait for its results and take the screenshot."""
    if name == "home":
        page.goto(url)
        page.get_by_text("Multimodal emotion recognition").first.wait_for(timeout=90_000)
    elif name == "dashboard":
        webrtc = open_and_start(page, f"{url}/Live_dashboard")
        page.get_by_text(re.compile(r"^words: .* · voice: ")).nth(1).wait_for(timeout=180_000)
        time.sleep(4)
        _whole_page(page, out / f"dashboard-{page.viewport_size['width']}.png")
        webrtc.get_by_role("button", name="STOP").click()
        page.get_by_text("Press STOP to change devices.").wait_for(state="detached", timeout=30_000)
        _settle(page, 6)
        name = "dashboard-stopped"
    elif name == "photo":
        page.goto(f"{url}/Photo")
        page.get_by_text("Choose a photo to analyse.").wait_for(timeout=90_000)
        page.locator("input[type=file]").set_input_files(str(media["photo"]))
        page.get_by_text(re.compile(r"faces? found")).first.wait_for(timeout=90_000)
    elif name == "camera":
        open_and_start(page, f"{url}/Live_camera")
        time.sleep(8)
    elif name == "voice":
        open_and_start(page, f"{url}/Voice", expect_video=False)
        page.get_by_text(re.compile(r"^words: .* · voice: ")).first.wait_for(timeout=180_000)
        time.sleep(15)
    elif name in ("audio", "video"):
        page.goto(f"{url}/{'Audio_file' if name == 'audio' else 'Video_file'}")
        page.locator("input[type=file]").first.wait_for(state="attached", timeout=90_000)
        page.locator("input[type=file]").first.set_input_files(str(media[name]))
        page.get_by_role("button", name=re.compile("Download timeline")).first.wait_for(timeout=300_000)
        if name == "video":  # show a frame with the face, not the first (black) one
            page.locator("video").first.evaluate("v => { v.currentTime = 6; }")
    _settle(page)
    _whole_page(page, out / f"{name}-{page.viewport_size['width']}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", nargs="+", choices=PAGES, default=list(PAGES))
    parser.add_argument("--widths", nargs="+", type=int, default=[1280, 1920])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "gallery")
    parser.add_argument("--photo", type=Path, default=None, help="the Photo page's photo (default: a group scene)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gallery-"))
    astronaut = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    clips = _speech()
    wav = fake_microphone_wav(work / "microphone.wav", clips[:2], pause_s=2.0)
    talk = fake_microphone_wav(work / "talk.wav", clips, pause_s=1.0, gain=1.0)
    scene = face_scene(astronaut)
    seconds = 12.0
    times = [i / 10 for i in range(int(seconds * 10))]
    title = np.zeros_like(scene)  # no face for the first 2 s: the trend shows a gap
    frames = [title if t < 2.0 else scene for t in times]
    media = {
        "photo": work / "group.jpg",
        "audio": talk,
        "video": write_av_clip(work / "clip.mp4", frames, times, np.concatenate([np.zeros(16_000, np.float32), *clips[:2]]), 1.0),
    }
    cv2.imwrite(str(media["photo"]), group_scene().image if args.photo is None else cv2.imread(str(args.photo)))
    y4m = write_y4m(work / "face.y4m", [scene] * 10).resolve()
    proc, url = start_app(work / "server.log", timeout_s=120)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=chromium_media_args(y4m, wav))
            for width in args.widths:
                for name in args.pages:
                    page = browser.new_page(viewport={"width": width, "height": HEIGHT})
                    try:
                        shoot(page, url, name, media, args.out)
                        print(f"{name} at {width} px: done")
                    finally:
                        page.close()
            browser.close()
    finally:
        stop_app(proc)
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    main()
