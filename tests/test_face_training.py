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
