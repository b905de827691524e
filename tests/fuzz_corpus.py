"""A corpus of bad and odd input files (images, audio, video), generated from real media.

:func:`build_corpus` writes more than 200 files into a folder: truncated, zero-byte, wrong
extension, random bytes, decompression bombs (huge dimensions in a tiny file), CMYK, 16-bit,
alpha, grayscale, palette, animated images; corrupt, silent, extreme sample rate,
multichannel, unusual sample formats and very long audio; corrupt, truncated, audio-less,
one-frame and tiny videos; and the hostile cases of issue 23 (:func:`hostile`): frames of
16000×16000 pixels, a 7000×7000 RGBA PNG, WAVs of 9-63 channels and with 0 bits per sample,
a zip holding an mp3, an MPO photo, a 1000 fps video, a soundtrack of 9 channels. Every file is derived from the real astronaut photo
(scikit-image) and a real RAVDESS sentence when ``../shared`` is there (else a synthetic
vowel), so decoders meet real codec data, not only noise.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from devkit.media import write_audio, write_video

RAVDESS_CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac"
REAL_SPEECH = RAVDESS_CLIP.exists()
"""Whether the corpus speaks (a real RAVDESS sentence); without ../shared its "speech" is a synthetic
vowel that voice-activity detection rightly ignores, so no utterance is expected from it."""


@dataclass(frozen=True)
class FuzzFile:
    """One corpus file: its path, the modality it is fed to, and what it is."""

    path: Path
    kind: str  # "image", "audio" or "video"
    what: str


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int, height: int) -> bytes:
    """A valid-looking PNG header declaring width x height 8-bit gray pixels, with one tiny
    compressed row of data: a decompression bomb if decoded."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1), 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _speech() -> tuple[np.ndarray, int]:
    if RAVDESS_CLIP.exists():
        import soundfile

        x, rate = soundfile.read(str(RAVDESS_CLIP), dtype="float32")
        return x, rate
    rate = 16_000
    t = np.arange(int(2.5 * rate)) / rate
    vowel = sum(np.sin(2 * np.pi * f * t) / (k + 1) for k, f in enumerate((140, 280, 700, 1200, 2500)))
    return (0.3 * vowel * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32), rate


def _wav(samples: np.ndarray, rate: int, channels: int = 1, fmt: str = "PCM_16") -> bytes:
    import soundfile

    data = np.tile(samples[:, None], (1, channels)) if channels > 1 else samples
    buf = io.BytesIO()
    soundfile.write(buf, data, rate, subtype=fmt, format="WAV")
    return buf.getvalue()


def references(target: Path) -> dict[str, bytes]:
    """Files that name another file, a URL or a protocol for FFmpeg to open: ffconcat lists (by
    relative and absolute path), ``concat:`` and ``file:`` URLs inside them, HLS playlists (a local
    segment, an http URL), an SDP description (RTP from the network), and archives holding
    ``target`` (tar, zip). Keys are the kinds, values the file contents; none of them may make the
    app read ``target`` or anything else outside the upload."""
    import tarfile
    import zipfile

    rel, absolute = target.name, str(target.resolve())
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        z.write(target, rel)
    tarred = io.BytesIO()
    with tarfile.open(fileobj=tarred, mode="w") as t:
        t.add(target, rel)
    return {
        "ffconcat_relative": f"ffconcat version 1.0\nfile '{rel}'\n".encode(),
        "ffconcat_absolute": f"ffconcat version 1.0\nfile '{absolute}'\n".encode(),
        "ffconcat_protocols": f"ffconcat version 1.0\nfile 'concat:{absolute}|{absolute}'\nfile 'file:{rel}'\n".encode(),
        "hls_local": f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{rel}\n#EXT-X-ENDLIST\n".encode(),
        "hls_url": b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:9/segment.ts\n#EXT-X-ENDLIST\n",
        "sdp": b"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=stream\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 5004 RTP/AVP 0\n",
        "zip": zipped.getvalue(),
        "tar": tarred.getvalue(),
    }


def build_corpus(folder: Path) -> list[FuzzFile]:
    """Write the corpus into ``folder`` (created); returns its files in a fixed order."""
    from skimage import data as skdata

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261121)
    files: list[FuzzFile] = []

    def add(name: str, payload: bytes, kind: str, what: str) -> None:
        path = folder / f"{len(files):03d}_{name}"
        path.write_bytes(payload)
        files.append(FuzzFile(path, kind, what))

    def add_empty_and_random(kind: str, exts: tuple[str, ...], count: int, seed0: int, max_len: int) -> None:
        """Zero-byte files with each extension, and ``count`` files of random bytes."""
        for ext in exts:
            add(f"empty.{ext}", b"", kind, "zero bytes")
        for seed in range(count):
            n = int(np.random.default_rng(seed).integers(1, max_len))
            payload = np.random.default_rng(seed0 + seed).integers(0, 256, n, dtype=np.uint8).tobytes()
            add(f"random_{seed}.{exts[seed % len(exts)]}", payload, kind, "random bytes")

    # ------------------------------------------------------------------ images
    rgb = Image.fromarray(skdata.astronaut())
    encoded = {
        "jpg": _save(rgb, "JPEG", quality=90),
        "png": _save(rgb, "PNG"),
        "webp": _save(rgb, "WEBP", quality=80),
        "bmp": _save(rgb, "BMP"),
    }
    for ext, payload in encoded.items():
        add(f"ok.{ext}", payload, "image", f"valid {ext}")
        for frac in (0.001, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99):
            add(
                f"truncated_{int(frac * 1000)}.{ext}",
                payload[: max(1, int(len(payload) * frac))],
                "image",
                f"{ext} truncated to {frac:.1%}",
            )
        corrupt = bytearray(payload)
        idx = rng.integers(len(payload) // 4, len(payload), 64)
        corrupt[idx[0] : idx[0] + 2048] = rng.integers(0, 256, min(2048, len(payload) - idx[0]), dtype=np.uint8).tobytes()
        add(f"corrupt_middle.{ext}", bytes(corrupt), "image", f"{ext} with 2 kB of random bytes inside")
    modes = {
        "cmyk.jpg": _save(rgb.convert("CMYK"), "JPEG"),
        "gray.png": _save(rgb.convert("L"), "PNG"),
        "gray_alpha.png": _save(rgb.convert("LA"), "PNG"),
        "rgba.png": _save(rgb.convert("RGBA"), "PNG"),
        "transparent.png": _save(Image.new("RGBA", (64, 64), (0, 0, 0, 0)), "PNG"),
        "palette.png": _save(rgb.convert("P"), "PNG"),
        "bilevel.png": _save(rgb.convert("1"), "PNG"),
        "16bit.png": _save(Image.fromarray(np.asarray(rgb.convert("L"), np.uint16) * 257), "PNG"),
        "32bit_int.tiff_named.png": _save(rgb.convert("I"), "TIFF"),
        "rgba.webp": _save(rgb.convert("RGBA"), "WEBP", lossless=True),
        "rgba.bmp": _save(rgb.convert("RGBA"), "BMP"),
        "progressive.jpg": _save(rgb, "JPEG", progressive=True),
        "1x1.png": _save(Image.new("RGB", (1, 1)), "PNG"),
        "2x2.jpg": _save(Image.new("RGB", (2, 2), (255, 0, 0)), "JPEG"),
        "wide_10000x1.png": _save(Image.new("L", (10000, 1), 128), "PNG"),
        "tall_1x10000.png": _save(Image.new("L", (1, 10000), 128), "PNG"),
        "large_6000x4000.jpg": _save(rgb.resize((6000, 4000)), "JPEG", quality=30),
    }
    frames = [rgb.rotate(a) for a in (0, 10, 20, 30)]
    modes["animated.gif"] = _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    modes["animated.webp"] = _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)
    modes["animated_apng.png"] = _save(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)
    modes["gif_named.png"] = modes["animated.gif"]
    modes["tiff_named.jpg"] = _save(rgb, "TIFF")
    modes["ico_named.png"] = _save(rgb.resize((64, 64)), "ICO")
    for orient in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orient
        modes[f"exif_orientation_{orient}.jpg"] = _save(rgb, "JPEG", exif=exif)
    bad_exif = Image.Exif()
    bad_exif[0x0112] = 99
    modes["exif_orientation_99.jpg"] = _save(rgb, "JPEG", exif=bad_exif)
    for name, payload in modes.items():
        add(name, payload, "image", name.rsplit(".", 1)[0].replace("_", " "))
    for w, h in ((60000, 60000), (100000, 1000), (20000, 20000), (8000, 7000)):
        add(f"bomb_{w}x{h}.png", png_bomb(w, h), "image", f"decompression bomb, PNG header says {w}x{h}")
    jpeg = bytearray(encoded["jpg"])
    sof = jpeg.find(b"\xff\xc0")
    if sof > 0:
        jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
        add("bomb_65000x65000.jpg", bytes(jpeg), "image", "decompression bomb, JPEG SOF says 65000x65000")
    bmp = bytearray(encoded["bmp"])
    bmp[18:26] = struct.pack("<ii", 50000, 50000)
    add("bomb_50000x50000.bmp", bytes(bmp), "image", "BMP header says 50000x50000")
    for i, magic in enumerate((b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"BM", b"GIF89a")):
        for seed in range(3):
            payload = magic + np.random.default_rng(seed).integers(0, 256, 4096, dtype=np.uint8).tobytes()
            ext = ("jpg", "png", "webp", "bmp", "png")[i]
            add(f"magic_then_noise_{seed}.{ext}", payload, "image", f"{ext} signature then random bytes")
    add_empty_and_random("image", ("jpg", "jpeg", "png", "webp", "bmp"), 12, 100, 200_000)
    add("text_named.jpg", b"hello, this is not a photo\n" * 20, "image", "text with a .jpg name")
    add("html_named.png", b"<html><script>alert(1)</script></html>", "image", "HTML with a .png name")

    # ------------------------------------------------------------------ audio
    speech, rate = _speech()
    tmp = folder / "_build"
    tmp.mkdir(exist_ok=True)
    audio_encoded = {}
    for ext in ("wav", "flac", "mp3", "ogg", "m4a"):
        p = write_audio(tmp / f"speech.{ext}", speech, rate)
        audio_encoded[ext] = p.read_bytes()
        add(f"ok.{ext}", audio_encoded[ext], "audio", f"valid {ext}, real speech")
        for frac in (0.0005, 0.01, 0.2, 0.5, 0.8):
            payload = audio_encoded[ext][: max(1, int(len(audio_encoded[ext]) * frac))]
            add(f"truncated_{int(frac * 10000)}.{ext}", payload, "audio", f"{ext} truncated to {frac:.2%}")
        corrupt = bytearray(audio_encoded[ext])
        start = len(corrupt) // 3
        corrupt[start : start + 4096] = (
            np.random.default_rng(len(files)).integers(0, 256, len(corrupt[start : start + 4096]), dtype=np.uint8).tobytes()
        )
        add(f"corrupt_middle.{ext}", bytes(corrupt), "audio", f"{ext} with random bytes inside")
    add_empty_and_random("audio", ("wav", "mp3", "flac", "ogg", "m4a", "webm"), 10, 200, 100_000)
    add("riff_header_only.wav", audio_encoded["wav"][:44], "audio", "WAV header, no samples")
    silent = np.zeros(16_000, np.float32)
    add("silent_1s.wav", _wav(silent, 16_000), "audio", "1 s of digital silence")
    add("silent_10ms.wav", _wav(silent[:160], 16_000), "audio", "10 ms of silence")
    add("one_sample.wav", _wav(silent[:1], 16_000), "audio", "a single sample")
    add(
        "silent_30s.flac",
        write_audio(tmp / "silent.flac", np.zeros(30 * 16_000, np.float32)).read_bytes(),
        "audio",
        "30 s of silence, FLAC",
    )
    add(
        "noise_5s.wav", _wav(rng.normal(0, 0.3, 5 * 16_000).clip(-1, 1).astype(np.float32), 16_000), "audio", "5 s of white noise"
    )
    add(
        "square_full_scale.wav",
        _wav(np.sign(np.sin(np.arange(32_000) / 10)).astype(np.float32), 16_000),
        "audio",
        "clipping square wave",
    )
    for sr in (1_000, 4_000, 8_000, 11_025, 96_000, 192_000, 384_000):
        resampled = cv2.resize(speech[None, :], (max(1, int(len(speech) * sr / rate)), 1), interpolation=cv2.INTER_LINEAR)[0]
        add(f"rate_{sr}.wav", _wav(resampled.astype(np.float32), sr), "audio", f"speech at {sr} Hz")
    wav = bytearray(audio_encoded["wav"])
    for claimed in (1, 0, 4_000_000_000):
        patched = bytearray(wav)
        patched[24:28] = struct.pack("<I", claimed)
        add(f"header_rate_{claimed}.wav", bytes(patched), "audio", f"WAV header claims {claimed} Hz")
    huge = bytearray(wav)
    huge[40:44] = struct.pack("<I", 0xFFFFFFF0)
    add("header_huge_data.wav", bytes(huge), "audio", "WAV header claims 4 GB of samples")
    for ch in (2, 6, 8, 16):
        add(f"channels_{ch}.wav", _wav(speech, rate, channels=ch), "audio", f"{ch} channels")
    for fmt in ("PCM_U8", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"):
        add(f"format_{fmt.lower()}.wav", _wav(speech, rate, fmt=fmt), "audio", f"sample format {fmt}")
    nan = speech.copy()
    nan[::100] = np.nan
    nan[1::100] = np.inf
    add("float_nan_inf.wav", _wav(nan, rate, fmt="FLOAT"), "audio", "float samples with NaN and inf")
    # 20 minutes: a sentence, 20 minutes of room noise, the sentence again (decoded in chunks, memory bounded)
    quiet = np.random.default_rng(5).normal(0, 0.002, 20 * 60 * rate).astype(np.float32)
    long = np.concatenate([speech, quiet, speech])
    add("long_20min.ogg", write_audio(tmp / "long.ogg", long, rate).read_bytes(), "audio", f"{len(long) / rate / 60:.1f} min")
    add("jpg_named.wav", encoded["jpg"], "audio", "a JPEG with a .wav name")
    # playlists, concat lists, SDP and archives that point at a real speech file beside them
    target = folder / "speech_target.wav"
    target.write_bytes(audio_encoded["wav"])
    for what, payload in references(target).items():
        for ext in ("wav", "mp3", "m4a"):
            add(f"reference_{what}.{ext}", payload, "audio", f"{what.replace('_', ' ')} with a .{ext} name")
    add("text_named.mp3", b"not audio at all\n" * 50, "audio", "text with a .mp3 name")

    # ------------------------------------------------------------------ video
    bgr = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    clip = write_video(
        tmp / "clip.mp4", bgr, seconds=3.0, fps=10, audio=np.concatenate([speech, speech])[: 3 * rate] if rate == 16_000 else None
    )
    mp4 = clip.read_bytes()
    add("ok.mp4", mp4, "video", "valid mp4 with speech")
    silent_clip = write_video(tmp / "noaudio.mp4", bgr, seconds=2.0, fps=10).read_bytes()
    add("no_audio.mp4", silent_clip, "video", "valid mp4 without an audio track")
    add("one_frame.mp4", write_video(tmp / "one.mp4", bgr, seconds=0.1, fps=10).read_bytes(), "video", "a single frame")
    add(
        "tiny_16x16.mp4",
        write_video(tmp / "tiny.mp4", cv2.resize(bgr, (16, 16)), seconds=1.0, fps=10).read_bytes(),
        "video",
        "16x16 pixels",
    )
    add(
        "odd_34x18.mp4",
        write_video(tmp / "odd.mp4", cv2.resize(bgr, (34, 18)), seconds=1.0, fps=10).read_bytes(),
        "video",
        "34x18 pixels",
    )
    for frac in (0.001, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9):
        add(f"truncated_{int(frac * 1000)}.mp4", mp4[: max(1, int(len(mp4) * frac))], "video", f"mp4 truncated to {frac:.1%}")
        add(
            f"truncated_noaudio_{int(frac * 1000)}.mp4",
            silent_clip[: max(1, int(len(silent_clip) * frac))],
            "video",
            f"audio-less mp4 truncated to {frac:.1%}",
        )
    for seed in range(5):
        corrupt = bytearray(mp4)
        start = int(np.random.default_rng(seed).integers(len(mp4) // 10, len(mp4) - 4096))
        corrupt[start : start + 4096] = np.random.default_rng(300 + seed).integers(0, 256, 4096, dtype=np.uint8).tobytes()
        add(f"corrupt_{seed}.mp4", bytes(corrupt), "video", "mp4 with 4 kB of random bytes inside")
    add_empty_and_random("video", ("mp4", "mov", "webm", "avi", "mkv"), 8, 400, 300_000)
    add("audio_only_named.mp4", audio_encoded["m4a"], "video", "an audio-only m4a with a .mp4 name")
    add("jpg_named.mp4", encoded["jpg"], "video", "a JPEG with a .mp4 name")
    add("wav_named.mov", audio_encoded["wav"], "video", "a WAV with a .mov name")
    for what, payload in references(target).items():
        add(f"reference_{what}.mp4", payload, "video", f"{what.replace('_', ' ')} with a .mp4 name")
    for name, payload, kind, what in hostile(tmp, speech, rate, audio_encoded["mp3"], rgb):
        add(name, payload, kind, what)
    for p in tmp.iterdir():
        p.unlink()
    tmp.rmdir()
    return files


def huge_frame_video(path: Path, side: int = 16000, frames: int = 2) -> Path:
    """A Matroska file of ``frames`` flat H.264 frames of ``side`` × ``side`` pixels: ~750 KB on
    disk at 16000 px, ~1 GB per decoded frame (the audit's case: 644 MB -> 3,720 MB)."""
    import av

    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("libx264", rate=1)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast"}
        frame = av.VideoFrame(side, side, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([128]) * plane.buffer_size)
        for i in range(frames):
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def rgba_png(side: int = 7000) -> bytes:
    """A ``side`` × ``side`` RGBA PNG of stripes and squares of two opacities: ~210 KB at 7000 px
    (49 Mpx, under the 50 Mpx photo limit), 196 MB once decoded."""
    yy, xx = np.mgrid[0:side, 0:side]
    a = np.empty((side, side, 4), np.uint8)
    a[..., 0] = (xx // 50 % 2) * 200
    a[..., 1] = 100
    a[..., 2] = (yy // 70 % 2) * 150
    a[..., 3] = np.where((xx // 500 + yy // 500) % 2, 255, 128)
    return _save(Image.fromarray(a, "RGBA"), "PNG", compress_level=9)


def wav_channels(samples: np.ndarray, rate: int, channels: int) -> bytes:
    """A plain 16-bit PCM WAV of ``samples`` on every one of ``channels`` channels (FFmpeg gives
    9 and more channels no named layout)."""
    return _wav(samples, rate, channels=channels)


def wav_bits_zero(samples: np.ndarray, rate: int) -> bytes:
    """A WAV whose header says 0 bits per sample (no decoder can be opened for it)."""
    wav = bytearray(_wav(samples, rate))
    wav[34:36] = struct.pack("<H", 0)
    return bytes(wav)


def video_with_channels(path: Path, samples: np.ndarray, rate: int, channels: int, image: np.ndarray, fps: int = 10) -> Path:
    """Matroska: H.264 frames of ``image`` and ``samples`` as 16-bit PCM on ``channels`` channels."""
    import av

    layout = f"{channels} channels"
    with av.open(str(path), "w", format="matroska") as out:
        v = out.add_stream("libx264", rate=fps)
        v.height, v.width = (image.shape[0] // 2 * 2, image.shape[1] // 2 * 2)
        v.pix_fmt = "yuv420p"
        a = out.add_stream("pcm_s16le", rate=rate, layout=layout)
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[: v.height, : v.width]), format="bgr24")
        for i in range(int(len(pcm) / rate * fps)):
            frame.pts = i
            out.mux(v.encode(frame))
        for start in range(0, len(pcm), 1600):
            block = np.repeat(pcm[start : start + 1600, None], channels, axis=1).reshape(1, -1)
            af = av.AudioFrame.from_ndarray(block, format="s16", layout=layout)
            af.sample_rate, af.pts = rate, start
            out.mux(a.encode(af))
        out.mux(v.encode(None))
        out.mux(a.encode(None))
    return path


def fast_video(path: Path, image: np.ndarray, fps: int = 1000, seconds: float = 2.0) -> Path:
    """An MP4 of ``image`` at ``fps`` frames per second (a high-speed camera's file)."""
    import av

    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.height, v.width = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
        v.pix_fmt = "yuv420p"
        v.codec_context.options = {"preset": "ultrafast"}
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[: v.height, : v.width]), format="bgr24")
        for i in range(int(fps * seconds)):
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


def hostile(tmp: Path, speech: np.ndarray, rate: int, mp3: bytes, rgb: Image.Image) -> list[tuple[str, bytes, str, str]]:
    """Issue 23's audit cases as (name, bytes, kind, what); ``tmp``: a scratch folder."""
    import zipfile

    bgr = cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)
    small = cv2.resize(bgr, (160, 160))
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("speech.mp3", mp3)
    thumb = rgb.resize((128, 128))
    out = [
        ("huge_frames_16000x16000.mkv", huge_frame_video(tmp / "huge.mkv").read_bytes(), "video", "two 16000x16000 H.264 frames"),
        ("rgba_7000x7000.png", rgba_png(), "image", "7000x7000 RGBA PNG, 49 Mpx"),
        ("phone_mpo.jpg", _save(rgb, "MPO", save_all=True, append_images=[thumb]), "image", "MPO: a JPEG with a second picture"),
        ("zip_of_mp3.mp3", zipped.getvalue(), "audio", "an uncompressed zip holding an mp3, named .mp3"),
        ("header_bits_0.wav", wav_bits_zero(speech, rate), "audio", "WAV header says 0 bits per sample"),
        ("fps_1000.mp4", fast_video(tmp / "fast.mp4", small).read_bytes(), "video", "2 s at 1000 frames per second"),
        (
            "soundtrack_9_channels.mkv",
            video_with_channels(tmp / "ch9.mkv", speech, rate, 9, small).read_bytes(),
            "video",
            "video with a 9-channel PCM soundtrack (real speech)",
        ),
    ]
    speech16k = cv2.resize(speech[None, :], (max(1, int(len(speech) * 16_000 / rate)), 1), interpolation=cv2.INTER_AREA)[0]
    for ch in (9, 17, 32, 48, 63):  # at 16 kHz: the 63-channel file stays ~7 MB
        out.append((f"channels_{ch}.wav", wav_channels(speech16k, 16_000, ch), "audio", f"{ch} channels, PCM WAV"))
    return out
