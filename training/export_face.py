"""Export a trained FERNet run (training/train_face.py) to ONNX, with its card and curves.

Writes ``models_onnx/NAME.onnx`` (the best PublicTest checkpoint, softmax appended; input
float32 [N, 1, 48, 48], output probabilities float32 [N, 7]), ``models_onnx/NAME.json``
(architecture, parameters, multiply-adds, training command and seed, PublicTest curve,
the ONNX-vs-PyTorch check, latency per face) and ``docs/NAME_training.png`` (training
curves). Accuracy on PublicTest/PrivateTest (both label schemes) is then measured and added
by ``python training/evaluate_face.py --model NAME --update-card``.

    python training/export_face.py --run runs/fernet_fer2013 --name fernet
    python training/export_face.py --run runs/fernet_ferplus --name fernet_ferplus
    # horizontal-flip test-time augmentation built into the graph (one run of a batch of 2N):
    python training/export_face.py --run runs/fernet_fer2013_r3 --name fernet --tta flip
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.timing import measure  # noqa: E402
from emotion.labels import EMOTIONS  # noqa: E402
from training.fer_net import INPUT_SIZE, FERNet, count_macs, count_parameters  # noqa: E402
from training.train_face import DEFAULT_DATA, to_input  # noqa: E402


class WithSoftmax(torch.nn.Module):
    """``net`` with softmax appended; with ``flip``, the mean of the softmax outputs for the
    faces and their mirror images (horizontal-flip test-time augmentation), computed as one
    batch of 2N."""

    def __init__(self, net: torch.nn.Module, flip: bool = False):
        super().__init__()
        self.net = net
        self.flip = flip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.flip:
            return torch.softmax(self.net(x), dim=1)
        n = x.shape[0]
        p = torch.softmax(self.net(torch.cat([x, x.flip(3)], 0)), dim=1)
        return (p[:n] + p[n:]) * 0.5


def load_run(run: Path) -> tuple[FERNet, dict, dict]:
    """The best checkpoint of a run as an eval-mode FERNet, its config and its history file."""
    best = torch.load(run / "best.pt", map_location="cpu", weights_only=False)
    config = best["config"]
    model = FERNet(width=config["width"])
    model.load_state_dict(best["model"])
    model.eval()
    history = json.loads((run / "history.json").read_text())
    return model, config, history | {"best": best["best"]}


def export_onnx(model: torch.nn.Module, path: Path, flip: bool = False) -> None:
    wrapped = WithSoftmax(model, flip).eval()
    torch.onnx.export(
        wrapped,
        (torch.zeros(1, 1, INPUT_SIZE, INPUT_SIZE),),
        str(path),
        input_names=["input"],
        output_names=["probabilities"],
        dynamic_axes={"input": {0: "N"}, "probabilities": {0: "N"}},
        opset_version=17,
        dynamo=False,
    )


def check_onnx(model: torch.nn.Module, path: Path, faces: np.ndarray, flip: bool = False) -> float:
    """Max |ONNX - PyTorch| over the softmax outputs (flip-averaged with ``flip``) for real
    faces uint8 [n, 48, 48]."""
    import onnxruntime as ort

    x = to_input(torch.from_numpy(faces))
    with torch.no_grad():
        ref = WithSoftmax(model, flip).eval()(x).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.numpy()})[0]
    return float(np.abs(ref - got).max())


def latency_per_face(path: Path, runs: int = 300) -> dict:
    """onnxruntime CPU, one thread: median/p95 ms for one face, and per face in a batch of 8."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    out = {}
    for batch in (1, 8):
        x = np.random.default_rng(0).uniform(-1, 1, (batch, 1, INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
        per_face_ms = measure(lambda x=x: sess.run(None, {"input": x}), runs, warmup=20) * 1000 / batch
        out[f"batch_{batch}"] = {
            "median_ms_per_face": round(float(np.median(per_face_ms)), 3),
            "p95_ms_per_face": round(float(np.percentile(per_face_ms, 95)), 3),
        }
    return out


def _warm_start(config: dict) -> dict:
    """For a run started from another run's weights (``--init``): every run it descends from,
    earliest (trained from scratch) first, each with its checkpoint, command and epochs, so the
    card says how to reproduce the whole chain."""
    chain, init = [], config.get("init")
    while init:
        source = torch.load(ROOT / init, map_location="cpu", weights_only=False)  # an absolute init stays as it is
        command = source["config"]["command"].replace("training/train_face.py", "python training/train_face.py", 1)
        chain.insert(0, {"checkpoint": init, "its_command": command, "its_epochs": source["config"]["epochs"]})
        init = source["config"].get("init")
    return {"warm_start_from": chain} if chain else {}


def plot_curves(history: list[dict], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    a.plot(ep, [h["train_loss"] for h in history], label="train loss (augmented, weighted)")
    a.plot(ep, [h["val_loss"] for h in history], label="PublicTest loss")
    a.plot(ep, [h["val_loss_ema"] for h in history], label="PublicTest loss (EMA weights)")
    a.set_xlabel("epoch")
    a.set_ylabel("cross-entropy")
    a.legend()
    a.grid(alpha=0.3)
    b.plot(ep, [100 * h["val_acc"] for h in history], label="PublicTest, FER2013 labels")
    b.plot(ep, [100 * h["val_acc_ema"] for h in history], label="... EMA weights")
    b.plot(ep, [100 * h["val_acc_ferplus"] for h in history], "--", label="PublicTest, FER+ majority")
    b.plot(ep, [100 * h["val_acc_ferplus_ema"] for h in history], "--", label="... EMA weights")
    b.set_xlabel("epoch")
    b.set_ylabel("accuracy (%)")
    b.legend()
    b.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, required=True, help="training run folder (best.pt, history.json)")
    p.add_argument("--name", required=True, help="model name: models_onnx/NAME.onnx")
    p.add_argument("--out", type=Path, default=ROOT / "models_onnx")
    p.add_argument("--docs", type=Path, default=ROOT / "docs")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--tta", choices=("none", "flip"), default="none", help="test-time augmentation built into the graph")
    args = p.parse_args(argv)
    flip = args.tta == "flip"
    model, config, history = load_run(args.run)
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / f"{args.name}.onnx"
    export_onnx(model, onnx_path, flip)
    with np.load(args.data) as d:
        faces = d["pixels"][np.flatnonzero(d["usage"] == 1)[:256]]
    diff = check_onnx(model, onnx_path, faces, flip)
    print(f"ONNX vs PyTorch: max |diff| {diff:.2e} over 256 PublicTest faces")
    if diff > 1e-4:
        raise SystemExit(f"ONNX export differs from PyTorch by {diff}")
    latency = latency_per_face(onnx_path)
    print(f"latency: {latency}")
    plot = args.docs / f"{args.name}_training.png"
    scheme = "FER2013 labels" if config["labels"] == "fer2013" else "FER+ vote distributions (soft targets)"
    plot_curves(history["history"], f"{args.name}: FERNet trained on FER2013 Training with {scheme}", plot)
    card_path = onnx_path.with_suffix(".json")
    old = json.loads(card_path.read_text()) if card_path.exists() else {}
    card = {
        "name": args.name,
        "task": "face expression classification",
        "labels": list(EMOTIONS),
        "input": {"name": "input", "shape": ["N", 1, INPUT_SIZE, INPUT_SIZE], "dtype": "float32", "layout": "NCHW"},
        "output": {"name": "probabilities", "shape": ["N", 7], "dtype": "float32", "softmax": True},
        "preprocessing": (
            "grayscale face crop, square, resized to 48x48 (area when shrinking, bilinear when enlarging), "
            "x/255 scaled to [-1, 1] as (x/255 - 0.5) * 2"
        ),
        "architecture": (
            "FERNet (training/fer_net.py): 3x3 stem, 10 inverted-residual blocks (1x1 expand x4, 3x3 depthwise, "
            "squeeze-and-excitation, 1x1 linear projection; Hardswish) in 4 stages (24x24, 12x12, 6x6, 3x3), "
            "multi-layer feature fusion: global-average-pooled 12x12, 6x6 and head features concatenated "
            f"before the linear classifier; width {config['width']}"
        ),
        "parameters": count_parameters(model),
        "macs": count_macs(model),
        "source": {
            "trained_by": "this project (training/train_face.py)",
            "trained_on": "FER2013 Training (28,709 faces), selected on PublicTest",
            "labels_used": scheme,
            "data": "../shared/data/fer2013/fer2013_ferplus.npz",
        },
        "licence": (
            "code MIT (this project); the weights are derived from FER2013 (research use, no explicit licence) "
            + ("and FER+ labels (MIT)" if config["labels"] == "ferplus" else "")
        ).strip(),
        "training": {
            "command": config["command"].replace("training/train_face.py", "python training/train_face.py", 1),
            "seed": config["seed"],
            "epochs": config["epochs"],
            "batch": config["batch"],
            "optimiser": f"AdamW lr {config['lr']}, weight decay {config['weight_decay']}, {config['warmup_epochs']} warm-up epochs, cosine",
            "loss": f"cross-entropy, label smoothing {config['label_smoothing']}, inverse-sqrt class weights",
            "augmentation": "affine (+-10 deg, scale 0.9-1.1, shift +-10%), flip, brightness/contrast, random erasing",
            "ema_decay": config["ema"],
            "best": history["best"],
            "curves": f"docs/{plot.name}",
            "publictest_by_epoch": [h["val_acc"] for h in history["history"]],
            **_warm_start(config),
        },
        "passes_per_face": 2 if flip else 1,
        "test_time_augmentation": (
            "horizontal flip: the mean of the softmax outputs for the face and its mirror image, in the graph "
            "(the network runs on a batch of 2N)"
            if flip
            else "none"
        ),
        "export": {
            "command": f"python training/export_face.py --run {args.run} --name {args.name}" + (" --tta flip" if flip else ""),
            "opset": 17,
            "onnx_vs_pytorch_max_abs_diff": float(f"{diff:.3g}"),
        },
        "latency": latency | {"what": "onnxruntime CPU, 1 thread, 300 runs (training/export_face.py)"},
    }
    if "evaluation" in old:
        card["evaluation"] = old["evaluation"]
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {onnx_path}, {card_path.name}, {plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
