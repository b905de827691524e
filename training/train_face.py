"""Train FERNet (training/fer_net.py) on FER2013 Training, select on PublicTest.

Data: ``../shared/data/fer2013/fer2013_ferplus.npz`` (see that folder's README): 28,709
Training faces, 3,589 PublicTest (model selection), 3,589 PrivateTest (reported once, by
``training/evaluate_face.py``, never read here).

Label schemes (``--labels``):

- ``fer2013``: the original FER2013 labels, cross-entropy with label smoothing and
  inverse-square-root class weights (disgust, 1.5% of Training, weighs about 4x happy);
- ``ferplus``: the FER+ vote distributions (Barsoum et al. 2016) as soft targets: the
  votes for the 7 FER2013 emotions, normalised (contempt, unknown and not-a-face votes
  dropped); faces without such votes keep their original one-hot label;
- ``both``: the two schemes at once, as one soft target: the mean of the FER2013 one-hot
  label and the FER+ vote distribution (the one-hot alone where there are no votes), so
  that one model is trained for both label schemes (a multi-label soft target; the loss is
  the mean of the two cross-entropies).

Options for issue 17 (each measured on PublicTest; the model card keeps what helped):

- ``--webcam-aug``: degradations of webcam crops on top of the augmentation below: on 15%
  of faces each, a stronger shift and scale (off-centre and partly out-of-frame faces,
  border replicated as the app's crop does), loss of resolution (down to 14-36 px and
  back), Gaussian blur, JPEG compression (quality 20-70), low light (gamma, dimming and
  sensor noise);
- ``--mixup A``: mixup (Zhang et al. 2018) with Beta(A, A) weights, inputs and targets mixed;
- ``--teacher NAME[,NAME]``: knowledge distillation (Hinton et al. 2015) from the ONNX
  models in ``models_onnx/`` (their flip-averaged softmax, geometric mean over teachers),
  run on the same augmented batch: loss = (1 - ``--kd-alpha``) x the label loss +
  ``--kd-alpha`` x T^2 x KL(teacher_T || student_T) at temperature ``--kd-temperature``;
- ``--init-onnx PATH``: start from the weights of an exported FERNet ONNX file, whose
  batch norms were folded into the convolutions by the export: they are loaded as
  convolutions after identity batch norms, which are then kept frozen (``--freeze-bn``).

Augmentation, batched on the CPU: random affine (rotation +-10 deg, scale 0.9-1.1,
translation +-10%, i.e. random crops), horizontal flip, brightness and contrast jitter,
random erasing. AdamW with a linear warm-up and a cosine schedule; an exponential moving
average of the weights (EMA) is evaluated beside the raw weights each epoch.

Resumable: ``--out DIR`` holds ``last.pt`` (written every epoch), ``best.pt`` (best
PublicTest accuracy, raw or EMA) and ``history.json``; run the same command again to
continue where it stopped.

    python training/train_face.py --labels fer2013 --out runs/fernet_fer2013 --epochs 40 --seed 0
    python training/train_face.py --labels ferplus --out runs/fernet_ferplus --epochs 40 --seed 0
    # smoke test (a few batches):
    python training/train_face.py --out /tmp/smoke --epochs 1 --max-batches 3 --limit 512
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]

from emotion.labels import ferplus_distribution, ferplus_majority  # noqa: E402
from training.fer_net import INPUT_SIZE, FERNet, count_macs, count_parameters  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "fer2013" / "fer2013_ferplus.npz"
NUM_CLASSES = 7


def load_data(path: Path, labels: str, limit: int | None, seed: int) -> dict[str, torch.Tensor]:
    with np.load(path) as d:
        usage, pixels, emotion = d["usage"], d["pixels"], d["emotion"].astype(np.int64)
        votes, has = d["ferplus_votes"], d["has_ferplus"]
    train = np.flatnonzero(usage == 0)
    val = np.flatnonzero(usage == 1)
    if limit:
        rng = np.random.default_rng(seed)
        train = np.sort(rng.choice(train, min(limit, len(train)), replace=False))
        val = np.sort(rng.choice(val, min(limit, len(val)), replace=False))
    onehot = np.eye(NUM_CLASSES, dtype=np.float32)[emotion]
    if labels in ("ferplus", "both"):
        dist, valid = ferplus_distribution(votes)
        valid &= has
        target = np.where(valid[:, None], dist, onehot)
        if labels == "both":
            target = (0.5 * (target + onehot)).astype(np.float32)
    else:
        target = onehot
    return {
        "x_train": torch.from_numpy(pixels[train]),
        "t_train": torch.from_numpy(target[train]),
        "y_train": torch.from_numpy(emotion[train]),
        "x_val": torch.from_numpy(pixels[val]),
        "y_val": torch.from_numpy(emotion[val]),
        "y_val_ferplus": torch.from_numpy(ferplus_majority(votes[val])),  # votes are zero where has_ferplus is False
    }


def to_input(x: torch.Tensor) -> torch.Tensor:
    """uint8 [n, 48, 48] -> float32 [n, 1, 48, 48] in [-1, 1], the app's preprocessing."""
    return (x.float().unsqueeze(1) / 255.0 - 0.5) * 2.0


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Batched augmentation of float inputs [n, 1, 48, 48] in [-1, 1]; see the module docstring."""
    n = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen) * (hi - lo) + lo

    angle = uniform(-10, 10) * math.pi / 180
    scale = uniform(0.9, 1.1)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin, uniform(-0.2, 0.2)], 1),
            torch.stack([sin * flip, cos, uniform(-0.2, 0.2)], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = uniform(0.7, 1.3).view(n, 1, 1, 1)
    brightness = uniform(-0.25, 0.25).view(n, 1, 1, 1)
    mean = x.mean((2, 3), keepdim=True)
    x = ((x - mean) * contrast + mean + brightness).clamp(-1, 1)
    # Random erasing (Zhong et al. 2020): half the faces lose a rectangle of 2-20% of the area.
    erase = torch.rand(n, generator=gen) < 0.5
    area = uniform(0.02, 0.2) * INPUT_SIZE * INPUT_SIZE
    aspect = torch.exp(uniform(math.log(0.3), math.log(3.3)))
    h = (area * aspect).sqrt().clamp(1, INPUT_SIZE - 1)
    w = (area / aspect).sqrt().clamp(1, INPUT_SIZE - 1)
    y0 = torch.rand(n, generator=gen) * (INPUT_SIZE - h)
    x0 = torch.rand(n, generator=gen) * (INPUT_SIZE - w)
    idx = torch.arange(INPUT_SIZE, dtype=torch.float32)
    rows = (idx.view(1, -1) >= y0.view(-1, 1)) & (idx.view(1, -1) < (y0 + h).view(-1, 1))
    cols = (idx.view(1, -1) >= x0.view(-1, 1)) & (idx.view(1, -1) < (x0 + w).view(-1, 1))
    mask = (rows.unsqueeze(2) & cols.unsqueeze(1) & erase.view(-1, 1, 1)).unsqueeze(1)
    noise = torch.rand(x.shape, generator=gen) * 2 - 1
    return torch.where(mask, noise, x)


def webcam_degrade(x: torch.Tensor, gen: torch.Generator, p: float = 0.15) -> torch.Tensor:
    """``--webcam-aug``: webcam-like degradations of float inputs [n, 1, 48, 48] in [-1, 1],
    each applied to a random ``p`` of the faces: off-centre / partly out-of-frame shift and
    scale (border replicated), loss of resolution, Gaussian blur, JPEG, low light."""
    n = x.shape[0]

    def pick() -> torch.Tensor:
        return torch.rand(n, generator=gen) < p

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen) * (hi - lo) + lo

    # Off-centre and partly out-of-frame: shift up to 30% of the side, scale 0.8-1.3.
    move = pick()
    if move.any():
        scale = torch.where(move, uniform(0.8, 1.3), torch.ones(n))
        tx = torch.where(move, uniform(-0.6, 0.6), torch.zeros(n))
        ty = torch.where(move, uniform(-0.6, 0.6), torch.zeros(n))
        zero = torch.zeros(n)
        theta = torch.stack([torch.stack([1 / scale, zero, tx], 1), torch.stack([zero, 1 / scale, ty], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    lowres, blur, jpeg, dark = pick(), pick(), pick(), pick()
    sides = torch.randint(14, 37, (n,), generator=gen)
    sigmas = uniform(0.4, 1.4)
    qualities = torch.randint(20, 71, (n,), generator=gen)
    img = ((x[:, 0] + 1) * 127.5).clamp(0, 255).round().to(torch.uint8).numpy().copy()
    for i in range(n):
        face = img[i]
        if lowres[i]:
            side = int(sides[i])
            face = cv2.resize(cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA), (INPUT_SIZE, INPUT_SIZE))
        if blur[i]:
            face = cv2.GaussianBlur(face, (0, 0), float(sigmas[i]))
        if jpeg[i]:
            ok, buf = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, int(qualities[i])])
            face = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else face
        img[i] = face
    x = torch.from_numpy(img).float().unsqueeze(1) / 127.5 - 1
    # Low light: gamma > 1 darkens the mid-tones, then dimming and sensor noise.
    if dark.any():
        unit = (x + 1) / 2
        gamma = uniform(1.2, 2.2).view(n, 1, 1, 1)
        dim = uniform(0.35, 0.8).view(n, 1, 1, 1)
        noise = torch.randn(x.shape, generator=gen) * uniform(0.01, 0.05).view(n, 1, 1, 1)
        low = (unit.pow(gamma) * dim + noise).clamp(0, 1) * 2 - 1
        x = torch.where(dark.view(n, 1, 1, 1), low, x)
    return x


class OnnxTeacher:
    """The geometric mean of the softmax outputs of FER ONNX models (``models_onnx/NAME.onnx``,
    each with its flip TTA if it has one), on float inputs [n, 1, 48, 48] in [-1, 1]; a model
    with another input side gets the batch resized (bilinear)."""

    def __init__(self, names: list[str], threads: int = 1):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        self.sessions = []
        for name in names:
            sess = ort.InferenceSession(str(ROOT / "models_onnx" / f"{name}.onnx"), opts, providers=["CPUExecutionProvider"])
            self.sessions.append((sess, sess.get_inputs()[0].name, int(sess.get_inputs()[0].shape[2])))

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(x.shape[0], NUM_CLASSES)
        for sess, name, side in self.sessions:
            inp = x if side == x.shape[2] else F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
            probs = sess.run(None, {name: inp.contiguous().numpy().astype(np.float32)})[0]
            total += torch.from_numpy(np.log(np.clip(probs, 1e-7, 1.0)))
        return torch.log_softmax(total / len(self.sessions), 1)


def load_onnx_weights(model: FERNet, path: Path) -> None:
    """Load an exported FERNet ONNX file's weights into ``model`` (same width).

    The export folded each batch norm into the convolution before it, so the ONNX graph's
    convolutions (in graph order, which is the model's forward order) are loaded into the
    model's convolutions, and each batch norm after one becomes the identity with the folded
    bias (weight 1, bias b, running mean 0, running variance 1 - eps). Keep those batch
    norms frozen while training (``--freeze-bn``).

    Raises:
        ValueError: the graph's convolutions do not match the model's.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    gemm = next(n for n in graph.node if n.op_type == "Gemm")
    modules = list(model.modules())
    targets = [m for m in modules if isinstance(m, torch.nn.Conv2d)]
    if len(convs) != len(targets):
        raise ValueError(f"{path.name}: {len(convs)} convolutions in the graph, {len(targets)} in the model")
    following = {id(modules[i]): modules[i + 1] for i in range(len(modules) - 1)}
    with torch.no_grad():
        for node, conv in zip(convs, targets, strict=True):
            w = torch.from_numpy(inits[node.input[1]].copy())
            if w.shape != conv.weight.shape:
                raise ValueError(f"{path.name}: {node.input[1]} has shape {tuple(w.shape)}, model {tuple(conv.weight.shape)}")
            conv.weight.copy_(w)
            b = torch.from_numpy(inits[node.input[2]].copy()) if len(node.input) > 2 else None
            bn = following.get(id(conv))
            if conv.bias is not None:
                conv.bias.copy_(b)
            elif isinstance(bn, torch.nn.BatchNorm2d):
                bn.weight.fill_(1.0)
                bn.bias.copy_(b if b is not None else torch.zeros_like(bn.bias))
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
            else:
                raise ValueError(f"{path.name}: convolution {node.name} has a bias the model cannot hold")
        w = torch.from_numpy(inits[gemm.input[1]].copy())
        model.classifier.weight.copy_(w)
        model.classifier.bias.copy_(torch.from_numpy(inits[gemm.input[2]].copy()))


def freeze_batch_norms(model: torch.nn.Module) -> None:
    """Put every batch norm in eval mode (running statistics used and kept); call after
    each ``model.train()``."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()


def class_weights(labels: torch.Tensor) -> torch.Tensor:
    """Inverse-square-root class frequencies, scaled so the mean weight over samples is 1."""
    counts = torch.bincount(labels, minlength=NUM_CLASSES).float().clamp(min=1)
    w = counts.rsqrt()
    return w / (w[labels].mean())


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, y_plus: torch.Tensor) -> dict:
    """PublicTest metrics of ``model``: accuracy (original labels), FER+ majority accuracy,
    cross-entropy, and ``acc_flip``: the accuracy of the mean of the softmax outputs for the
    face and its mirror image (horizontal-flip test-time augmentation, as ``export_face.py
    --tta flip`` builds into the ONNX graph)."""
    model.eval()

    def logits_of(batch: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [model(batch[i : i + 512].contiguous(memory_format=torch.channels_last)) for i in range(0, len(batch), 512)]
        )

    inputs = to_input(x)
    logits = logits_of(inputs)
    flipped = logits_of(inputs.flip(3))
    pred = logits.argmax(1)
    pred_flip = (logits.softmax(1) + flipped.softmax(1)).argmax(1)
    keep = y_plus >= 0
    return {
        "acc": float((pred == y).float().mean()),
        "acc_flip": float((pred_flip == y).float().mean()),
        "acc_ferplus": float((pred[keep] == y_plus[keep]).float().mean()) if keep.any() else float("nan"),
        "loss": float(F.cross_entropy(logits, y)),
    }


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return 0.5 * base * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, history.json)")
    p.add_argument("--labels", choices=("fer2013", "ferplus", "both"), default="fer2013")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--warmup-epochs", type=float, default=2.0)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--width", type=float, default=0.75)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--limit", type=int, default=None, help="use only this many Training/PublicTest faces (smoke test)")
    p.add_argument("--max-batches", type=int, default=None, help="stop each epoch after this many batches (smoke test)")
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from the weights of another run's last.pt (a warm restart: new optimiser and schedule)",
    )
    p.add_argument(
        "--select",
        choices=("plain", "flip"),
        default="plain",
        help="PublicTest accuracy that picks best.pt: of the face alone, or with horizontal-flip TTA",
    )
    p.add_argument("--webcam-aug", action="store_true", help="add webcam-like degradations (see the module docstring)")
    p.add_argument("--mixup", type=float, default=0.0, help="mixup Beta(A, A); 0: off")
    p.add_argument("--teacher", default="", help="comma-separated ONNX model names in models_onnx/ to distil from")
    p.add_argument("--kd-alpha", type=float, default=0.5)
    p.add_argument("--kd-temperature", type=float, default=2.0)
    p.add_argument("--init-onnx", type=Path, default=None, help="start from an exported FERNet ONNX file")
    p.add_argument("--freeze-bn", action="store_true", help="keep batch norms in eval mode (implied by --init-onnx)")
    args = p.parse_args(argv)
    if args.init_onnx is not None:
        args.freeze_bn = True
    if not args.data.is_file():
        p.error(f"data not found: {args.data} (see ../shared/data/README.md)")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)

    data = load_data(args.data, args.labels, args.limit, args.seed)
    model = FERNet(width=args.width).to(memory_format=torch.channels_last)
    ema = copy.deepcopy(model).eval()
    for q in ema.parameters():
        q.requires_grad_(False)
    decay, no_decay = [], []
    for q in model.parameters():
        (no_decay if q.ndim <= 1 else decay).append(q)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr
    )
    weights = class_weights(data["y_train"])
    gen = torch.Generator().manual_seed(args.seed)
    n = len(data["x_train"])
    steps_per_epoch = n // args.batch if args.max_batches is None else min(n // args.batch, args.max_batches)
    steps_per_epoch = max(1, steps_per_epoch)
    total, warmup = args.epochs * steps_per_epoch, int(args.warmup_epochs * steps_per_epoch)
    history: list[dict] = []
    start_epoch, best = 0, {"acc": -1.0}
    last = args.out / "last.pt"
    if last.exists():
        state = torch.load(last, weights_only=False)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch, history, best = state["epoch"] + 1, state["history"], state["best"]
        print(f"resumed from {last} at epoch {start_epoch}", flush=True)
    elif args.init is not None:
        state = torch.load(args.init, weights_only=False)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["model"])
        print(f"weights from {args.init}", flush=True)
    elif args.init_onnx is not None:
        load_onnx_weights(model, args.init_onnx)
        ema.load_state_dict(model.state_dict())
        print(f"weights from {args.init_onnx}", flush=True)
    teacher = OnnxTeacher(args.teacher.split(","), threads=max(1, args.threads)) if args.teacher else None
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()} | {
        "parameters": count_parameters(model),
        "macs": count_macs(model),
        "command": " ".join(sys.argv),
    }
    print(json.dumps(config), flush=True)

    step = start_epoch * steps_per_epoch
    for epoch in range(start_epoch, args.epochs):
        model.train()
        if args.freeze_bn:
            freeze_batch_norms(model)
        t0 = time.time()
        perm = torch.randperm(n, generator=gen)
        run_loss, seen = 0.0, 0
        for b in range(steps_per_epoch):
            idx = perm[b * args.batch : (b + 1) * args.batch]
            x = augment(to_input(data["x_train"][idx]), gen)
            if args.webcam_aug:
                x = webcam_degrade(x, gen)
            target = data["t_train"][idx]
            if args.label_smoothing:
                target = target * (1 - args.label_smoothing) + args.label_smoothing / NUM_CLASSES
            sample_w = weights[data["y_train"][idx]]
            if args.mixup > 0:
                lam = float(torch.distributions.Beta(args.mixup, args.mixup).sample())
                lam = max(lam, 1 - lam)
                other = torch.randperm(len(idx), generator=gen)
                x = lam * x + (1 - lam) * x[other]
                target = lam * target + (1 - lam) * target[other]
                sample_w = lam * sample_w + (1 - lam) * sample_w[other]
            x = x.contiguous(memory_format=torch.channels_last)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, warmup, args.lr)
            logits = model(x)
            per_sample = -(target * F.log_softmax(logits, 1)).sum(1)
            loss = (per_sample * sample_w).mean()
            if teacher is not None:
                t = args.kd_temperature
                soft = torch.softmax(teacher.log_probs(x.contiguous()) / t, 1)
                kd = F.kl_div(F.log_softmax(logits / t, 1), soft, reduction="batchmean") * t * t
                loss = (1 - args.kd_alpha) * loss + args.kd_alpha * kd
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                d = min(args.ema, (1 + step) / (10 + step))
                for e, q in zip(ema.parameters(), model.parameters(), strict=True):
                    e.mul_(d).add_(q.detach(), alpha=1 - d)
                for e, q in zip(ema.buffers(), model.buffers(), strict=True):
                    e.copy_(q)
            run_loss += loss.item() * len(idx)
            seen += len(idx)
            step += 1
        raw = evaluate(model, data["x_val"], data["y_val"], data["y_val_ferplus"])
        avg = evaluate(ema, data["x_val"], data["y_val"], data["y_val_ferplus"])
        row = {
            "epoch": epoch + 1,
            "train_loss": round(run_loss / max(seen, 1), 4),
            "lr": round(lr_at(step - 1, total, warmup, args.lr), 6),
            "val_acc": round(raw["acc"], 4),
            "val_acc_ema": round(avg["acc"], 4),
            "val_acc_flip": round(raw["acc_flip"], 4),
            "val_acc_flip_ema": round(avg["acc_flip"], 4),
            "val_acc_ferplus": round(raw["acc_ferplus"], 4),
            "val_acc_ferplus_ema": round(avg["acc_ferplus"], 4),
            "val_loss": round(raw["loss"], 4),
            "val_loss_ema": round(avg["loss"], 4),
            "seconds": round(time.time() - t0, 1),
        }
        history.append(row)
        print(json.dumps(row), flush=True)
        key = "acc_flip" if args.select == "flip" else "acc"
        for which, net, res in (("raw", model, raw), ("ema", ema, avg)):
            if res[key] > best["acc"]:
                best = {"acc": res[key], "epoch": epoch + 1, "weights": which, "select": args.select}
                torch.save({"model": net.state_dict(), "config": config, "best": best}, args.out / "best.pt")
        torch.save(
            {
                "model": model.state_dict(),
                "ema": ema.state_dict(),
                "opt": opt.state_dict(),
                "gen": gen.get_state(),
                "torch_rng": torch.get_rng_state(),
                "epoch": epoch,
                "history": history,
                "best": best,
                "config": config,
            },
            args.out / "last.pt.tmp",
        )
        (args.out / "last.pt.tmp").replace(last)
        (args.out / "history.json").write_text(json.dumps({"config": config, "best": best, "history": history}, indent=1))
    print(json.dumps({"best": best}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
