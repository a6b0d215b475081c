"""Float models that compression starts from: ResNet-18 (ImageNet and CIFAR stems) and a tiny digits CNN.

The ResNet-18 modules are written here (no torchvision dependency) but use torchvision's module names,
so a torchvision `resnet18().state_dict()` loads as is. Module names are also the node names of the
compressed graph (see `graph.py`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from ..archs import arch_info
from ..errors import InputError, ModelFileError
from ..safeio import MAX_NPZ_BYTES as MAX_CHECKPOINT_BYTES
from ..safeio import load_npz, open_regular

MAX_CLASSES = 1 << 16


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: conv3x3-bn-relu-conv3x3-bn (+ identity or 1x1 downsample), relu."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """ResNet-18 with torchvision's state_dict keys. `cifar=True`: 3x3/1 stem and no max-pool."""

    def __init__(self, num_classes: int = 1000, cifar: bool = False, in_channels: int = 3):
        super().__init__()
        if cifar:
            self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool: nn.Module = nn.Identity() if cifar else nn.MaxPool2d(3, 2, 1)
        widths = (64, 128, 256, 512)
        cin = 64
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(cin, w, stride), BasicBlock(w, w, 1)))
            cin = w
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class SmallCNN(nn.Module):
    """Tiny CNN for 1x8x8 digits, built from the same node vocabulary as ResNet (conv+bn+relu, gap, fc)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, widths: tuple[int, int] = (8, 16)):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.conv2 = nn.Conv2d(widths[0], widths[1], 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(widths[1])
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_model(arch: str, num_classes: int | None = None) -> nn.Module:
    """A freshly initialised float model; `model.arch` records the architecture name."""
    info = arch_info(arch)
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                    or not 1 <= num_classes <= MAX_CLASSES):
        raise InputError(f"num_classes must be an integer in 1..{MAX_CLASSES}, got {num_classes!r}")
    n = int(num_classes or info["num_classes"])
    cin = info["input_shape"][0]
    if arch == "resnet18":
        model: nn.Module = ResNet18(n, cifar=False, in_channels=cin)
    elif arch == "resnet18-cifar":
        model = ResNet18(n, cifar=True, in_channels=cin)
    else:
        model = SmallCNN(n, in_channels=cin)
    model.arch = arch
    return model


def prunable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every Conv2d and Linear by module name, in definition order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}


def _unwrap(obj: object, path: str) -> Mapping:
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if key in obj and isinstance(obj[key], Mapping):
                return _unwrap(obj[key], path)
        return obj
    if isinstance(obj, nn.Module):
        return obj.state_dict()
    raise ModelFileError(f"{path}: not a state_dict (found {type(obj).__name__})")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """name -> float32 (or integer) tensor from a .pt/.pth state_dict or an .npz of arrays."""
    path = os.fspath(path)
    if not os.path.lexists(path):
        raise ModelFileError(f"{path}: no such checkpoint file")
    if path.endswith(".npz"):
        raw = {k: torch.from_numpy(np.array(v)) for k, v in
               load_npz(path, "checkpoint", error=ModelFileError).items()}
    else:
        with open_regular(path, MAX_CHECKPOINT_BYTES, "checkpoint", ModelFileError) as f:
            try:  # weights_only: tensors and plain containers, never code from the file
                obj = torch.load(f, map_location="cpu", weights_only=True)
            except Exception as e:  # noqa: BLE001 - torch raises many types for a bad pickle/zip
                raise ModelFileError(f"{path}: cannot read as a torch checkpoint ({type(e).__name__}: "
                                     f"{str(e).splitlines()[0] if str(e) else ''})") from None
        raw = dict(_unwrap(obj, path))
    out: dict[str, torch.Tensor] = {}
    for k, v in raw.items():
        if not isinstance(k, str):
            raise ModelFileError(f"{path}: key {k!r} is not a parameter name")
        k = k.removeprefix("module.")  # DataParallel checkpoints
        if not isinstance(v, torch.Tensor):
            raise ModelFileError(f"{path}: entry {k!r} is not a tensor")
        if v.is_complex() or (v.is_floating_point() and not bool(torch.isfinite(v).all())):
            raise ModelFileError(f"{path}: entry {k!r} holds NaN, infinite or complex values")
        out[k] = v.float() if v.is_floating_point() else v
    return out


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a checkpoint into `model` strictly; mismatches raise ModelFileError naming file and key."""
    path = os.fspath(path)
    _load_state_dict(model, read_state_dict(path), path)
    return model


def _load_state_dict(model: nn.Module, sd: dict[str, torch.Tensor], path: str) -> None:
    expected = model.state_dict()
    # BN's num_batches_tracked is bookkeeping only; tolerate checkpoints that dropped it
    missing = [k for k in expected if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in expected]
    if missing:
        raise ModelFileError(
            f"{path}: missing key {missing[0]!r}"
            + (f" (+{len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    if unexpected:
        raise ModelFileError(
            f"{path}: unexpected key {unexpected[0]!r}"
            + (f" (+{len(unexpected) - 1} more)" if len(unexpected) > 1 else "")
        )
    for k, v in sd.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise ModelFileError(
                f"{path}: key {k!r} has shape {tuple(v.shape)}, the model expects {tuple(expected[k].shape)}"
            )
    model.load_state_dict(sd, strict=False)


def load_model(arch: str, path: str | os.PathLike, num_classes: int | None = None) -> nn.Module:
    """build_model + load_weights; num_classes comes from fc.weight when not given."""
    arch_info(arch)
    path = os.fspath(path)
    sd = read_state_dict(path)
    if num_classes is None:
        if "fc.weight" not in sd:
            raise ModelFileError(f"{path}: missing key 'fc.weight'")
        num_classes = int(sd["fc.weight"].shape[0])
    model = build_model(arch, num_classes)
    _load_state_dict(model, sd, path)
    return model.eval()
