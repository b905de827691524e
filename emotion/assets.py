"""Where the files the library ships are: the ONNX models with their cards, and OpenCV's Haar cascade.

An installed package (a wheel, ``pip install .``) holds them inside itself, as
``emotion/models_onnx/`` and ``emotion/haarcascade_frontalface_default.xml``, found with
:mod:`importlib.resources`. A source checkout used without installing it (``streamlit run
localapp.py`` after ``pip install -r requirements.txt``, Streamlit Community Cloud, an editable
install) keeps them where the repository's layout puts them, beside the package: the wheel's
build copies them from there (``pyproject.toml``, ``force-include``). ``EMOTION_MODELS_DIR`` and
``EMOTION_HAAR_CASCADE`` (:class:`emotion.config.Settings`) point elsewhere.

Nothing here imports a model library; light enough for any module.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

MODELS_FOLDER = "models_onnx"
HAAR_CASCADE_FILE = "haarcascade_frontalface_default.xml"

_PACKAGE = Path(str(resources.files(__package__)))


def _shipped(name: str) -> Path:
    packaged = _PACKAGE / name
    if packaged.exists():  # an installed wheel
        return packaged
    return _PACKAGE.parent / name  # a source checkout: the repository's layout


def bundled_models_dir() -> Path:
    """The folder of the shipped ONNX models and their cards (``*.onnx``, ``*.json``, ``*.md``)."""
    return _shipped(MODELS_FOLDER)


def bundled_haar_cascade() -> Path:
    """OpenCV's frontal-face Haar cascade (XML) shipped with the package."""
    return _shipped(HAAR_CASCADE_FILE)


def installed_from_wheel() -> bool:
    """Whether this package is an installed wheel (its models inside it), not a source checkout."""
    return (_PACKAGE / MODELS_FOLDER).is_dir()
