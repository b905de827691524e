"""FERNet: a lightweight face-expression CNN of improved inverted-residual blocks
with multi-layer feature fusion (PyTorch, training only; the app runs its ONNX export).

Family: the lightweight FER network of the issue's reference system, i.e. MobileNetV2
inverted-residual blocks (Sandler et al. 2018, "MobileNetV2: Inverted Residuals and
Linear Bottlenecks") "improved" with squeeze-and-excitation channel attention (Hu et al.
2018) and Hardswish activations (MobileNetV3, Howard et al. 2019), and a classifier over
the *fusion* of several depths: the global-average-pooled features of the 12x12, 6x6 and
3x3 stages are concatenated before the last linear layer, so mid-level cues (wrinkles,
mouth corners) reach the classifier beside the deep ones.

Input: float32 [N, 1, 48, 48], a grayscale face scaled to [-1, 1] as ``(x/255 - 0.5) * 2``.
Output: logits float32 [N, 7] in FER2013 order (angry, disgust, fear, happy, sad,
surprise, neutral); the ONNX export appends a softmax.

The default width gives about 1.0 M parameters and 40 M multiply-adds per face.
"""

from __future__ import annotations

import torch
from torch import nn

INPUT_SIZE = 48


def _make_divisible(v: float, divisor: int = 8) -> int:
    return max(divisor, int(v + divisor / 2) // divisor * divisor)


class SqueezeExcite(nn.Module):
    """Channel attention: global average pool -> 1x1 reduce -> ReLU -> 1x1 expand -> hard sigmoid."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = _make_divisible(channels / reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(hidden, channels, 1)
        self.gate = nn.Hardsigmoid(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.Hardswish(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """1x1 expand (x ``expand``) -> 3x3 depthwise (stride) -> SE -> 1x1 linear projection,
    with an identity shortcut when the shape is kept."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int, se: bool = True):
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(conv_bn(cin, hidden, 1))
        layers.append(conv_bn(hidden, hidden, 3, stride, groups=hidden))
        if se:
            layers.append(SqueezeExcite(hidden))
        layers.append(conv_bn(hidden, cout, 1, act=False))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


# (out channels, blocks, first stride, expansion) per stage; spatial size after it for a 48x48 input.
STAGES = (
    (32, 2, 2, 4),  # 24x24
    (64, 3, 2, 4),  # 12x12  -> fused
    (128, 3, 2, 4),  # 6x6   -> fused
    (192, 2, 2, 4),  # 3x3   -> head -> fused
)


class FERNet(nn.Module):
    """Lightweight FER CNN; see the module docstring.

    Args:
        num_classes: output classes (7 for FER2013).
        width: channel multiplier of every stage (1.0 gives ~1.0 M parameters).
        head_channels: 1x1 conv width after the last stage.
        dropout: dropout before the classifier.
    """

    def __init__(self, num_classes: int = 7, width: float = 1.0, head_channels: int = 512, dropout: float = 0.3):
        super().__init__()
        stem = _make_divisible(24 * width)
        self.stem = conv_bn(1, stem, 3, 1)
        cin = stem
        self.stages = nn.ModuleList()
        outs = []
        for cout, blocks, stride, expand in STAGES:
            cout = _make_divisible(cout * width)
            layers = []
            for i in range(blocks):
                layers.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expand))
                cin = cout
            self.stages.append(nn.Sequential(*layers))
            outs.append(cout)
        self.head = conv_bn(cin, head_channels, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        fused = outs[1] + outs[2] + head_channels
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(fused, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        pooled = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in (1, 2):
                pooled.append(self.pool(x).flatten(1))
        pooled.append(self.pool(self.head(x)).flatten(1))
        return self.classifier(self.dropout(torch.cat(pooled, 1)))


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (batch-norm running statistics excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_macs(model: nn.Module, size: int = INPUT_SIZE) -> int:
    """Multiply-accumulates of one forward pass on a [1, 1, size, size] input, counted
    with forward hooks over Conv2d and Linear layers (element-wise ops ignored)."""
    total = 0

    def conv_hook(m: nn.Conv2d, _inp, out):
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total += out.numel() * k

    def linear_hook(m: nn.Linear, _inp, out):
        nonlocal total
        total += out.numel() * m.in_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, size, size))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return total
