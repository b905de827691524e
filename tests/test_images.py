import io

import cv2
import numpy as np
import pytest
from PIL import Image

from emotion import InputError
from emotion.images import decode_image, encode_png, fit_within


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def astronaut_pil(astronaut_bgr):
    return Image.fromarray(cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2RGB))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP"])
def test_formats_decode_to_bgr(astronaut_pil, astronaut_bgr, fmt):
    out = decode_image(_save(astronaut_pil, fmt))
    assert out.shape == astronaut_bgr.shape and out.dtype == np.uint8
    # BGR order: the orange suit is red-heavy, so channel 2 (R) beats channel 0 (B) there
    assert out[300, 100, 2] > out[300, 100, 0] + 80


def test_exif_orientation_is_honoured(astronaut_pil, analyzer):
    # store the photo rotated on its side, with EXIF orientation 6 ("rotate 90 CW to display")
    sideways = astronaut_pil.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _save(sideways, "JPEG", exif=exif, quality=95)
    raw = cv2.cvtColor(np.asarray(Image.open(io.BytesIO(data))), cv2.COLOR_RGB2BGR)
    upright = decode_image(data)
    original = np.asarray(astronaut_pil)[..., ::-1]
    # decoded upright: close to the original (JPEG noise only), unlike the stored pixels
    assert np.abs(upright.astype(int) - original).mean() < 6
    assert np.abs(raw.astype(int) - original).mean() > 30
    faces = analyzer.analyze(upright)
    assert [f.label for f in faces] == ["happy"]
    x, y, w, h = faces[0].box
    assert 150 < x + w / 2 < 300 and 60 < y + h / 2 < 180, faces[0].box  # the face, where it is upright


def test_modes_are_converted(astronaut_pil):
    for im in (
        astronaut_pil.convert("CMYK"),
        astronaut_pil.convert("L"),
        astronaut_pil.convert("P"),
        astronaut_pil.convert("RGBA"),
    ):
        fmt = "JPEG" if im.mode == "CMYK" else "PNG"
        out = decode_image(_save(im, fmt))
        assert out.shape == (512, 512, 3) and out.dtype == np.uint8, im.mode


def test_sixteen_bit_png_keeps_its_contrast():
    ramp = (np.linspace(0, 65535, 256)[None, :].repeat(20, 0)).astype(np.uint16)
    out = decode_image(_save(Image.fromarray(ramp), "PNG"))
    assert out[0, 0, 0] < 5 and out[0, -1, 0] > 250


def test_transparent_pixels_become_white():
    rgba = np.zeros((10, 10, 4), np.uint8)  # fully transparent black
    out = decode_image(_save(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert (out == 255).all()


def test_animated_image_gives_first_frame():
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    out = decode_image(buf.getvalue())
    assert tuple(int(v) for v in out[5, 5]) == (0, 0, 255)  # red in BGR


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"this is a text file, not a photo", "not an image"),
        (b"GIF89a" + b"\x00" * 100, "not an image|unsupported"),
    ],
)
def test_bad_bytes(data, message):
    with pytest.raises(InputError, match=message):
        decode_image(data)


def test_truncated_jpeg(astronaut_pil):
    data = _save(astronaut_pil, "JPEG")
    with pytest.raises(InputError, match="truncated or corrupt"):
        decode_image(data[: len(data) // 3])


def test_gif_is_refused_with_supported_list():
    data = _save(Image.new("RGB", (8, 8)), "GIF")
    with pytest.raises(InputError, match="unsupported image format GIF"):
        decode_image(data)


def test_decompression_bomb_is_refused_before_decoding():
    # a 20000x20000 PNG that compresses to a few hundred KB
    data = _save(Image.new("L", (20000, 20000)), "PNG")
    with pytest.raises(InputError, match="pixels"):
        decode_image(data, max_pixels=50_000_000)


def test_encode_png_roundtrip(astronaut_bgr):
    assert np.array_equal(decode_image(encode_png(astronaut_bgr)), astronaut_bgr)


def test_fit_within():
    im = np.zeros((1000, 3000, 3), np.uint8)
    assert fit_within(im, 1500).shape == (500, 1500, 3)
    assert fit_within(im, 5000) is im


def test_pad_to_aspect_keeps_extreme_panoramas_displayable():
    from emotion.images import pad_to_aspect

    wide = np.full((1, 1600, 3), 7, np.uint8)
    out = pad_to_aspect(wide)
    assert out.shape == (80, 1600, 3) and (out[39] == 7).all() and out[0, 0, 0] == 128
    assert pad_to_aspect(np.zeros((900, 3), np.uint8)).shape == (900, 45)
    normal = np.zeros((480, 640, 3), np.uint8)
    assert pad_to_aspect(normal) is normal
