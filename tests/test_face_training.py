"""FERNet: smoke training (resumable), ONNX export matching PyTorch, size limits, and the
shipped model's card."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emotion.config import Settings

torch = pytest.importorskip("torch", reason="torch is a training dependency (pip install -r requirements-train.txt)")

from training.fer_net import FERNet, count_macs, count_parameters  # noqa: E402


def test_fernet_size_limits():
    model = FERNet(width=0.75)
    params, macs = count_parameters(model), count_macs(model)
    assert params <= 1_500_000, params
    assert 5e6 < macs < 60e6, macs
    out = model.eval()(torch.zeros(3, 1, 48, 48))
    assert out.shape == (3, 7)


def test_multi_layer_fusion_feeds_the_classifier():
    # the classifier sees the pooled 12x12 and 6x6 stages beside the head: its input width is their sum
    model = FERNet(width=0.75)
    stage_out = [stage[-1].block[-1][0].out_channels for stage in model.stages]
    assert model.classifier.in_features == stage_out[1] + stage_out[2] + model.head[0].out_channels


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, fer_npz):
    from training.train_face import main

    out = tmp_path_factory.mktemp("fernet_smoke")
    args = ["--data", str(fer_npz), "--out", str(out), "--limit", "384", "--max-batches", "2", "--batch", "64", "--threads", "1"]
    assert main([*args, "--epochs", "1", "--labels", "ferplus"]) == 0
    first = json.loads((out / "history.json").read_text())
    assert main([*args, "--epochs", "2", "--labels", "ferplus"]) == 0  # resumes at epoch 2
    return out, first


def test_smoke_training_runs_and_resumes(smoke_run):
    out, first = smoke_run
    assert len(first["history"]) == 1
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history["history"]] == [1, 2]
    assert history["history"][0] == first["history"][0]  # epoch 1 kept, not retrained
    for row in history["history"]:
        assert np.isfinite(row["train_loss"]) and 0 <= row["val_acc"] <= 1
    assert (out / "best.pt").exists() and (out / "last.pt").exists()


def test_warm_restart_starts_from_the_given_weights(smoke_run, tmp_path, fer_npz):
    import torch

    from training.train_face import main

    src, _ = smoke_run
    out = tmp_path / "restart"
    args = ["--data", str(fer_npz), "--out", str(out), "--limit", "384", "--max-batches", "1", "--batch", "64"]
    # lr 0: the weights cannot move, so the run's weights are exactly the ones it started from
    assert main([*args, "--epochs", "1", "--threads", "1", "--lr", "0", "--init", str(src / "last.pt"), "--select", "flip"]) == 0
    start = torch.load(src / "last.pt", weights_only=False)["model"]
    after = torch.load(out / "last.pt", weights_only=False)["model"]
    for name, value in start.items():
        if value.dtype.is_floating_point and "running" not in name:
            assert torch.equal(value, after[name]), name
    history = json.loads((out / "history.json").read_text())
    row = history["history"][0]
    assert 0 <= row["val_acc_flip"] <= 1 and history["best"]["select"] == "flip"
    assert np.isclose(history["best"]["acc"], max(row["val_acc_flip"], row["val_acc_flip_ema"]), atol=1e-4)

    # a restart of the restart: the card's chain names both runs it descends from, earliest first
    from training.export_face import _warm_start

    again = tmp_path / "restart2"
    args2 = [a if a != str(out) else str(again) for a in args]
    assert main([*args2, "--epochs", "1", "--threads", "1", "--init", str(out / "last.pt")]) == 0
    config = torch.load(again / "last.pt", weights_only=False)["config"]
    chain = _warm_start(config)["warm_start_from"]
    assert [step["checkpoint"] for step in chain] == [str(src / "last.pt"), str(out / "last.pt")]
    assert [step["its_epochs"] for step in chain] == [2, 1]


@pytest.mark.parametrize("flip", [False, True], ids=["plain", "flip_tta"])
def test_onnx_export_matches_pytorch(smoke_run, tmp_path, fer_npz, flip):
    import onnxruntime as ort

    from training.export_face import export_onnx, load_run
    from training.train_face import to_input

    run, _ = smoke_run
    model, _, _ = load_run(run)
    path = tmp_path / "fernet_smoke.onnx"
    export_onnx(model, path, flip=flip)
    with np.load(fer_npz) as d:
        faces = d["pixels"][np.flatnonzero(d["usage"] == 2)[:64]]
    x = to_input(torch.from_numpy(faces))
    with torch.no_grad():
        ref = torch.softmax(model(x), 1)
        if flip:  # the mean over the face and its mirror image, computed separately here
            ref = (ref + torch.softmax(model(torch.flip(x, dims=[3])), 1)) / 2
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    assert got.shape == (64, 7)
    np.testing.assert_allclose(got, ref.numpy(), atol=1e-4)
    np.testing.assert_allclose(got.sum(1), 1, atol=1e-5)
    one = session.run(None, {"input": x.numpy()[:1]})[0]  # the batch of one the live pages send
    np.testing.assert_allclose(one, ref.numpy()[:1], atol=1e-4)


@pytest.mark.parametrize("name", ["fernet", "fernet_ferplus"])
def test_shipped_fernet_card_matches_the_network(name):
    path = Settings().model_path(name)
    card = json.loads(path.with_suffix(".json").read_text())
    model = FERNet(width=float(card["architecture"].rsplit("width ", 1)[1].rstrip(".")))
    # counted on the network built from the card's architecture (accuracy: tests/test_accuracy.py
    # measures it; the export's ONNX-vs-PyTorch agreement: the export test above)
    assert card["parameters"] == count_parameters(model) <= 1_500_000
    assert card["macs"] == count_macs(model)


def _astronaut_faces() -> np.ndarray:
    """uint8 [6, 48, 48]: the real astronaut face, shifted and scaled a little (no data needed)."""
    import cv2
    from skimage import data

    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    crops = [gray[50 + dy : 200 + dy, 160 + dx : 310 + dx] for dy, dx in ((0, 0), (5, 0), (0, 5), (-5, 0), (0, -5), (8, 8))]
    return np.stack([cv2.resize(c, (48, 48), interpolation=cv2.INTER_AREA) for c in crops])


def test_weights_loaded_from_the_shipped_onnx_reproduce_it():
    # the export folded batch norms into the convolutions: loaded back as convolutions after
    # identity batch norms, the network (with the card's class offsets) gives the shipped file's outputs
    import onnxruntime as ort

    from training.train_face import load_onnx_weights, to_input

    path = Settings().model_path("fernet")
    model = FERNet(width=0.75)
    load_onnx_weights(model, path)
    x = to_input(torch.from_numpy(_astronaut_faces()))
    with torch.no_grad():
        model.eval()
        ref = (torch.softmax(model(x), 1) + torch.softmax(model(x.flip(3)), 1)) / 2
        bias = json.loads(path.with_suffix(".json").read_text()).get("class_bias")
        if bias:  # the card's class offsets are the graph's
            ref = torch.softmax(torch.log(ref) + torch.tensor(bias["log_offsets"]), 1)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, ref.numpy(), atol=1e-5)
    assert got.argmax(1).tolist() == [3] * 6  # happy, as the app reads this face
    with pytest.raises(ValueError, match="shape"):
        load_onnx_weights(FERNet(width=1.0), path)


def test_webcam_degradations_are_seeded_and_keep_the_input_range():
    from training.train_face import to_input, webcam_degrade

    x = to_input(torch.from_numpy(np.repeat(_astronaut_faces(), 20, axis=0)))
    a = webcam_degrade(x, torch.Generator().manual_seed(1), p=0.5)
    b = webcam_degrade(x, torch.Generator().manual_seed(1), p=0.5)
    assert a.shape == x.shape and torch.equal(a, b)
    assert a.min() >= -1 and a.max() <= 1
    changed = (a - x).abs().flatten(1).amax(1) > 0.05
    assert 0.5 < changed.float().mean() < 1.0  # most faces degraded, some left as they were
    assert torch.equal(webcam_degrade(x, torch.Generator().manual_seed(1), p=0.0), ((x + 1) * 127.5).round() / 127.5 - 1)


def test_issue_17_options_train_resume_and_keep_frozen_batch_norms(tmp_path, fer_npz):
    from training.train_face import main

    onnx = Settings().model_path("fernet")
    args = ["--data", str(fer_npz), "--out", str(tmp_path), "--limit", "256", "--max-batches", "2", "--batch", "64"]
    args += ["--threads", "1", "--labels", "both", "--webcam-aug", "--mixup", "0.2", "--teacher", "fernet,mini_xception"]
    args += ["--init-onnx", str(onnx), "--select", "flip"]
    assert main([*args, "--epochs", "1"]) == 0
    assert main([*args, "--epochs", "2"]) == 0  # resumes
    history = json.loads((tmp_path / "history.json").read_text())
    assert [h["epoch"] for h in history["history"]] == [1, 2] and history["config"]["freeze_bn"]
    for row in history["history"]:
        assert np.isfinite(row["train_loss"]) and row["val_acc_flip"] > 0.5  # warm-started, not from scratch
    state = torch.load(tmp_path / "last.pt", weights_only=False)["model"]
    means = [v for k, v in state.items() if k.endswith("running_mean")]
    assert means and all(torch.count_nonzero(m) == 0 for m in means)  # frozen: the identity statistics stay


def test_class_bias_meets_the_recall_floors_on_the_faces_it_was_fitted_on():
    from training.export_face import RECALL_FLOOR, RECALL_FLOORS, fit_class_bias

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 3000)
    logits = rng.normal(0, 1, (3000, 7))
    logits[np.arange(3000), labels] += 1.6
    logits[:, 0] -= 0.8  # a model that under-calls the first class (angry)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)

    def recall(b):
        pred = (np.log(probs) + b).argmax(1)
        return np.array([(pred[labels == c] == c).mean() for c in range(7)])

    assert recall(np.zeros(7))[0] < RECALL_FLOORS["angry"]
    bias = fit_class_bias(probs, labels)
    assert recall(bias)[0] >= RECALL_FLOORS["angry"] and recall(bias).min() >= RECALL_FLOOR
    assert abs(bias.mean()) < 1e-9


def test_onnx_export_with_class_bias_matches_pytorch(smoke_run, tmp_path):
    from training.export_face import check_onnx, export_onnx, load_run

    model, _, _ = load_run(smoke_run[0])
    bias = np.array([0.4, -0.2, 0.3, 0.0, 0.1, -0.3, -0.3])
    path = tmp_path / "biased.onnx"
    export_onnx(model, path, flip=True, bias=bias)
    assert check_onnx(model, path, _astronaut_faces(), flip=True, bias=bias) < 1e-5
    plain = tmp_path / "plain.onnx"
    export_onnx(model, plain, flip=True)
    assert check_onnx(model, plain, _astronaut_faces(), flip=True, bias=bias) > 1e-3  # the offsets are in the graph
