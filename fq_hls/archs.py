"""The architectures fq-hls knows: input shape, pixel normalisation, classes and graph family (no torch).

One registry for every stage: compression builds and normalises with it (fq_hls.compress), the synthetic
models copy it (fq_hls.synthetic), the report and the commands check `--network`/`--arch` against it.
"""

from __future__ import annotations

from .errors import InputError

IMAGENET_MEAN = tuple(round(v * 255, 4) for v in (0.485, 0.456, 0.406))
IMAGENET_STD = tuple(round(v * 255, 4) for v in (0.229, 0.224, 0.225))
CIFAR_MEAN = tuple(round(v * 255, 4) for v in (0.4914, 0.4822, 0.4465))
CIFAR_STD = tuple(round(v * 255, 4) for v in (0.2470, 0.2435, 0.2616))

# ResNet depths (torchvision): block type and blocks per stage; the "-cifar" variants swap the 7x7/2 stem and
# max-pool for a 3x3/1 stem (32x32 inputs). Bottleneck blocks are v1.5: the stride sits in the 3x3 conv.
RESNET_DEPTHS: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
}


def _resnet(depth: str, cifar: bool) -> dict:
    block, blocks = RESNET_DEPTHS[depth]
    return {
        "input_shape": (3, 32, 32) if cifar else (3, 224, 224),
        "mean": CIFAR_MEAN if cifar else IMAGENET_MEAN,
        "std": CIFAR_STD if cifar else IMAGENET_STD,
        "num_classes": 10 if cifar else 1000,
        "family": "resnet",
        "block": block,
        "blocks": blocks,
        "stem": "cifar" if cifar else "imagenet",
    }


# input_shape (C, H, W); mean/std per channel in 0..255 pixel units; num_classes is the default only (a
# checkpoint's fc decides); family selects the graph layout.
ARCHS: dict[str, dict] = {
    **{name + suffix: _resnet(name, suffix == "-cifar") for name in RESNET_DEPTHS for suffix in ("", "-cifar")},
    # scikit-learn digits: 8x8 grey levels 0..16 scaled to 0..255 (mean/std measured on all 1797 images)
    "smallcnn": {
        "input_shape": (1, 8, 8),
        "mean": (78.0,),
        "std": (96.0,),
        "num_classes": 10,
        "family": "plain",
    },
}


def arch_info(arch: str) -> dict:
    """The ARCHS entry of `arch`, or an InputError listing the known ones."""
    try:
        return ARCHS[arch]
    except KeyError:
        raise InputError(f"unknown architecture {arch!r}; known: {', '.join(ARCHS)}") from None


def register_arch(name: str, info: dict) -> None:
    """Add a user architecture (a module traced by fq_hls.compress.fx_import) to ARCHS for this process, so
    that every stage reads its input shape and normalisation from the one registry. A built-in name, or the
    same name with another entry, is refused."""
    known = ARCHS.get(name)
    if known is not None and known != info:
        raise InputError(f"architecture {name!r} is already registered with another input shape or normalisation")
    ARCHS[name] = dict(info)
