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

# input_shape (C, H, W); mean/std per channel in 0..255 pixel units; family selects the graph layout.
ARCHS: dict[str, dict] = {
    "resnet18": {
        "input_shape": (3, 224, 224),
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
        "num_classes": 1000,
        "family": "resnet",
    },
    "resnet18-cifar": {
        "input_shape": (3, 32, 32),
        "mean": CIFAR_MEAN,
        "std": CIFAR_STD,
        "num_classes": 10,
        "family": "resnet",
    },
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
