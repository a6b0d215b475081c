"""Float models that compression starts from: ResNet-18/34/50 (ImageNet and CIFAR stems) and a tiny digits CNN.

The ResNets are written here (torchvision's CUDA wheel does not load beside the CPU torch) but use
torchvision's module names, so a torchvision `resnet50().state_dict()` loads as is. Module names are also the
node names of the compressed graph (see `graph.py`). A user's own module comes through `fx_import`.
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

    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = _downsample(cin, width, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """torchvision's Bottleneck (v1.5): 1x1 reduce, 3x3 carrying the stride, 1x1 expand x4 (+ identity or
    1x1 downsample), relu."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, 1, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, 1, 0, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def _downsample(cin: int, cout: int, stride: int) -> nn.Module | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class ResNet(nn.Module):
    """ResNet-18/34/50 with torchvision's state_dict keys. `cifar=True`: 3x3/1 stem and no max-pool."""

    def __init__(self, block: type[BasicBlock | Bottleneck], blocks: tuple[int, ...], num_classes: int = 1000,
                 cifar: bool = False, in_channels: int = 3):
        super().__init__()
        if cifar:
            self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool: nn.Module = nn.Identity() if cifar else nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (width, n) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
            stage = []
            for j in range(n):
                stage.append(block(cin, width, 2 if (i > 0 and j == 0) else 1))
                cin = width * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
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


_BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


def build_model(arch: str, num_classes: int | None = None) -> nn.Module:
    """A freshly initialised float model; `model.arch` records the architecture name."""
    info = arch_info(arch)
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                    or not 1 <= num_classes <= MAX_CLASSES):
        raise InputError(f"num_classes must be an integer in 1..{MAX_CLASSES}, got {num_classes!r}")
    n = int(num_classes or info["num_classes"])
    cin = info["input_shape"][0]
    if info["family"] == "resnet":
        model: nn.Module = ResNet(_BLOCKS[info["block"]], info["blocks"], n, cifar=info["stem"] == "cifar",
                                  in_channels=cin)
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


def classes_of(sd: Mapping[str, torch.Tensor], path: str, key: str = "fc.weight") -> int:
    """The class count of a checkpoint: the rows of its classifier weight `key`."""
    if key not in sd:
        raise ModelFileError(f"{path}: missing key {key!r} (the classifier, which gives the class count)")
    shape = tuple(sd[key].shape)
    if len(shape) != 2 or not 1 <= shape[0] <= MAX_CLASSES:
        raise ModelFileError(f"{path}: key {key!r} has shape {shape}, expected (classes <= {MAX_CLASSES}, features)")
    return int(shape[0])


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
    """build_model + load_weights; the class count comes from the checkpoint's fc.weight when not given
    (a given count that differs is refused naming the key and both shapes)."""
    arch_info(arch)
    path = os.fspath(path)
    sd = read_state_dict(path)
    if num_classes is None:
        num_classes = classes_of(sd, path)
    model = build_model(arch, num_classes)
    _load_state_dict(model, sd, path)
    return model.eval()


def load_any_model(arch: str, path: str | os.PathLike, num_classes: int | None = None,
                   input_shape: tuple[int, int, int] | None = None) -> nn.Module:
    """A float model with its checkpoint: a registry architecture (classes from the checkpoint's fc) or a
    user module `FILE.py:builder` (traced with torch.fx, then registered in fq_hls.archs under
    `model.arch`). `input_shape` is for user modules only."""
    from .fx_import import is_module_spec, load_user_model

    if not is_module_spec(arch):
        if input_shape is not None:
            raise InputError(f"--input-shape is for --arch FILE.py:builder; {arch!r} takes "
                             f"{arch_info(arch)['input_shape']}")
        return load_model(arch, path, num_classes)
    model, info = load_user_model(arch, input_shape)
    if num_classes is not None and num_classes != info["num_classes"]:
        raise InputError(f"--num-classes {num_classes}: the module {arch} returns {info['num_classes']} classes")
    from ..archs import register_arch

    load_weights(model, path)
    register_arch(model.arch, info)
    return model.eval()


def num_outputs(model: nn.Module) -> int:
    """The class count of a model: the outputs of its last Linear layer."""
    fcs = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not fcs:
        raise InputError(f"{getattr(model, 'arch', 'model')}: no Linear classifier layer")
    return int(fcs[-1].out_features)
