"""Node lists of torchvision-layout ResNets (basic and bottleneck blocks) for the synthetic models.

Node names follow torchvision's state_dict keys (conv1, layer1.0.conv1, ..., fc; the shortcut conv is
`<block>.downsample`). Bottleneck blocks are v1.5 (torchvision): 1x1 reduce, 3x3 with the block's stride,
1x1 expand (x4, no ReLU: the residual add follows it), so the add fuses into a 1x1 conv. Each entry is
(node, weight shape (out, in, k) or None; k = 0 for fc).
"""

from __future__ import annotations

from ..model import Node

WIDTHS = (64, 128, 256, 512)
EXPANSION = {"basic": 1, "bottleneck": 4}


def _conv(name: str, src: str, shape: tuple[int, int, int], stride: int = 1, relu: bool = False):
    k = shape[2]
    return Node(name, "conv", [src], {"kernel": k, "stride": stride, "padding": k // 2}, relu=relu), shape


def _block(p: str, prev: str, cin: int, width: int, stride: int, kind: str) -> tuple[list, int]:
    """One residual block `p` reading `prev`: its nodes and its output channels."""
    out = []
    if kind == "basic":
        cout = width
        out.append(_conv(f"{p}.conv1", prev, (width, cin, 3), stride, relu=True))
        out.append(_conv(f"{p}.conv2", f"{p}.conv1", (width, width, 3)))
        last = f"{p}.conv2"
    else:
        cout = width * EXPANSION["bottleneck"]
        out.append(_conv(f"{p}.conv1", prev, (width, cin, 1), relu=True))
        out.append(_conv(f"{p}.conv2", f"{p}.conv1", (width, width, 3), stride, relu=True))
        out.append(_conv(f"{p}.conv3", f"{p}.conv2", (cout, width, 1)))
        last = f"{p}.conv3"
    shortcut = prev
    if stride != 1 or cin != cout:
        shortcut = f"{p}.downsample"
        out.append(_conv(shortcut, prev, (cout, cin, 1), stride))
    out.append((Node(p, "add", [last, shortcut], relu=True), None))
    return out, cout


def resnet_nodes(block: str, blocks: tuple[int, ...], stem: str, num_classes: int,
                 widths: tuple[int, ...] = WIDTHS) -> list[tuple[Node, tuple | None]]:
    """The whole network: stem (widths[0] channels), one stage of `blocks[i]` blocks of width `widths[i]` per
    entry, global average pool, fc. Torchvision's ResNets have WIDTHS."""
    if block not in EXPANSION:
        raise ValueError(f"unknown ResNet block {block!r}; known: {', '.join(EXPANSION)}")
    out: list[tuple[Node, tuple | None]] = []
    if stem == "imagenet":
        out.append((Node("conv1", "conv", ["input"], {"kernel": 7, "stride": 2, "padding": 3}, relu=True),
                    (widths[0], 3, 7)))
        out.append((Node("maxpool", "maxpool", ["conv1"], {"kernel": 3, "stride": 2, "padding": 1}), None))
        prev = "maxpool"
    else:
        out.append(_conv("conv1", "input", (widths[0], 3, 3), relu=True))
        prev = "conv1"
    cin = widths[0]
    for li, (width, n) in enumerate(zip(widths, blocks, strict=True), start=1):
        for b in range(n):
            nodes, cin = _block(f"layer{li}.{b}", prev, cin, width, 2 if (b == 0 and li > 1) else 1, block)
            out += nodes
            prev = f"layer{li}.{b}"
    out.append((Node("avgpool", "avgpool", [prev], {"global": True}), None))
    out.append((Node("fc", "fc", ["avgpool"]), (num_classes, cin, 0)))
    return out
