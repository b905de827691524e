"""Decode and encode still images (Pillow), with clear errors for bad input."""

from __future__ import annotations

import io
import warnings

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import InputError
from .formats import IMAGE_EXTENSIONS  # noqa: F401 - re-exported: where callers found it

IMAGE_FORMATS = {"JPEG": "jpg/jpeg", "MPO": "jpg/jpeg", "PNG": "png", "WEBP": "webp", "BMP": "bmp"}
"""Pillow formats accepted for photos, with the file extensions they come as. MPO is how Pillow
names a JPEG with multi-picture data (phones add a second, smaller picture): its first picture
is the photo."""


MAX_IMAGE_BYTES = 200 * 2**20
"""Largest photo file read (bytes): the pages' upload limit (``server.maxUploadSize``, 200 MB)."""

STRIP_PIXELS = 1 << 20
"""Pixels converted at a time (a strip of whole rows) from Pillow's decoded image to BGR, so the
conversion (alpha, palette, 16-bit, CMYK) needs no second full-size copy."""

# EXIF orientation (tag 0x0112) -> the OpenCV operations that turn the stored image upright
_EXIF_ORIENTATION = {
    2: lambda x: cv2.flip(x, 1),
    3: lambda x: cv2.rotate(x, cv2.ROTATE_180),
    4: lambda x: cv2.flip(x, 0),
    5: lambda x: cv2.transpose(x),
    6: lambda x: cv2.rotate(x, cv2.ROTATE_90_CLOCKWISE),
    7: lambda x: cv2.flip(cv2.transpose(x), -1),
    8: lambda x: cv2.rotate(x, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


def decode_image(data: bytes, max_pixels: int = 50_000_000) -> np.ndarray:
    """Decode an uploaded photo to a uint8 BGR array [H, W, 3].

    Honours the EXIF orientation tag; flattens transparency onto white; converts
    16-bit, palette, grayscale and CMYK images; an animated image or an MPO (multi-picture
    JPEG) gives its first picture. The pixel limit is checked from the header, before
    decoding; the conversion to BGR runs in strips (:data:`STRIP_PIXELS`), so the peak memory
    is about the decoded image (1-4 bytes per pixel, by mode) plus the 3-byte BGR result:
    ~350 MB for a 7000×7000 RGBA PNG at the 50 Mpx default.

    Raises:
        InputError: empty data, not a JPEG/PNG/WebP/BMP image, truncated or
            corrupt, or more than ``max_pixels`` pixels (decompression bomb).
    """
    if not data:
        raise InputError("the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            if im.format not in IMAGE_FORMATS:
                raise InputError(f"unsupported image format {im.format}; use one of: {', '.join(IMAGE_EXTENSIONS)}")
            w, h = im.size
            if w * h > max_pixels:
                raise InputError(f"the image is {w}x{h} pixels, more than the limit of {max_pixels:,} pixels")
            im.load()
            try:
                orientation = int(im.getexif().get(0x0112, 1))
            except (TypeError, ValueError):
                orientation = 1
            bgr = pil_to_bgr(im)
            im.close()
            del im
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError("the file is not an image this app can read (jpg, jpeg, png, webp, bmp)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"the image has more than {max_pixels:,} pixels") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"the image is truncated or corrupt ({exc})") from None
    turn = _EXIF_ORIENTATION.get(orientation)
    return turn(bgr) if turn else bgr


def pil_to_bgr(im: Image.Image) -> np.ndarray:
    """A Pillow image of any mode as uint8 BGR [H, W, 3], converted a strip of rows at a time
    (:data:`STRIP_PIXELS`): 16-bit and 32-bit gray scaled to 8 bits, transparency flattened
    onto white, palette, CMYK and the rest through Pillow's RGB conversion."""
    w, h = im.size
    out = np.empty((h, w, 3), np.uint8)
    rows = max(1, STRIP_PIXELS // max(1, w))
    for y in range(0, h, rows):
        strip = im.crop((0, y, w, min(h, y + rows)))
        out[y : y + strip.height] = _strip_to_bgr(strip)
    return out


def _strip_to_bgr(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        if arr.size and arr.max() > 255:  # 16-bit range -> 8-bit
            arr = arr / 257.0
        gray = arr.clip(0, 255).astype(np.uint8)
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    rgb = np.asarray(im.convert("RGB"))
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 BGR [H, W, 3] image."""
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise InputError("could not encode the image as PNG")
    return buf.tobytes()


def pad_to_aspect(image: np.ndarray, max_aspect: float = 20.0, value: int = 128) -> np.ndarray:
    """``image`` (uint8 [H, W] or [H, W, C]) padded with a grey border (centred) so that its
    long side is at most ``max_aspect`` times its short side; unchanged when it already is.
    Keeps a 10000x1 panorama displayable (browsers and Streamlit scale it to 0 pixels high)."""
    h, w = image.shape[:2]
    short = int(np.ceil(max(h, w) / max_aspect))
    pad_h, pad_w = max(0, short - h), max(0, short - w)
    if not pad_h and not pad_w:
        return image
    colour = (value,) * (image.shape[2] if image.ndim == 3 else 1)
    return cv2.copyMakeBorder(
        image, pad_h // 2, pad_h - pad_h // 2, pad_w // 2, pad_w - pad_w // 2, cv2.BORDER_CONSTANT, value=colour
    )


def fit_within(image: np.ndarray, max_side: int) -> np.ndarray:
    """``image`` downscaled (INTER_AREA) so its longest side is at most ``max_side`` pixels."""
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
