"""Where the research data lies: ``../shared/data`` beside the checkout (its README names the
corpora and their licences; never copied into the repository)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
"""The repository's root."""

SHARED_DATA = Path(os.environ.get("SHARED_DATA_DIR") or ROOT.parent / "shared" / "data")
"""The shared data folder (``SHARED_DATA_DIR`` overrides)."""

FER_NPZ = SHARED_DATA / "fer2013" / "fer2013_ferplus.npz"
"""FER2013 with the FER+ votes, one npz."""

RAVDESS = SHARED_DATA / "ravdess"
"""RAVDESS speech (English, 24 actors)."""
