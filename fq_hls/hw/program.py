"""Program image of the fq_accel IP (docs/accel_abi.md, docs/engine.md): `build_program(graph, cfg)` lays out
the activation memory (fq_hls.hw.activations), encodes one descriptor per layer (fq_hls.hw.descriptors) and
packs the conv layers' weight streams (fq_hls.hw.streams) into one weight buffer. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..ir import ConvLayer, IntegerGraph
from .activations import activation_offsets
from .config import HardwareConfig
from .cycles import conv_passes, fused_pools
from .descriptors import DESC_WORDS, D, encode_layer, encode_weights
from .streams import PackedLayer, pack_layer

# Version of the program image (descriptor words, flags, op codes, weight-stream layout) that an engine built
# from this checkout reads; bump it with any change of that layout. Build manifests and the emulated .hwh
# carry it, and the runtime refuses a program of another version (fq_hls.runtime.agreement).
PROGRAM_FORMAT = 1


@dataclass
class Program:
    weights: np.ndarray  # uint8
    descriptors: np.ndarray  # uint32 (n_layers, DESC_WORDS)
    act_bytes: int
    input_offset: int
    input_shape: tuple[int, int, int]
    output_offset: int
    num_classes: int
    layer_names: list[str] = field(default_factory=list)
    tensor_offsets: dict[str, int] = field(default_factory=dict)
    packed: dict[str, PackedLayer] = field(default_factory=dict)  # conv/fc layers, by name
    tensors: dict = field(default_factory=dict)  # TensorInfo by name
    output_name: str = ""
    unwritten: set[str] = field(default_factory=set)  # tensors the engine never stores (fused into a pool)
    hardware: dict = field(default_factory=dict)  # HardwareConfig.to_dict() of the engine it was packed for
    format_version: int = PROGRAM_FORMAT

    @property
    def n_layers(self) -> int:
        return int(self.descriptors.shape[0])

    def new_act(self) -> np.ndarray:
        return np.zeros(self.act_bytes, dtype=np.uint8)

    def write_input(self, act: np.ndarray, x_int8_chw: np.ndarray) -> None:
        x = np.asarray(x_int8_chw)
        if tuple(x.shape) != tuple(self.input_shape):
            raise InputError(
                f"input of shape {tuple(x.shape)}, the program expects {tuple(self.input_shape)} (C, H, W)"
            )
        if x.dtype not in (np.int8, np.uint8):
            raise InputError(f"input must be int8 (or uint8 for an unsigned input tensor), got {x.dtype}")
        b = np.ascontiguousarray(x).reshape(-1).view(np.uint8)
        act[self.input_offset : self.input_offset + b.size] = b

    def write_tensor(self, act: np.ndarray, name: str, values: np.ndarray) -> None:
        """Store an 8-bit tensor (C, H, W) at its place in the activation memory (external inputs, tests)."""
        info = self.tensors[name]
        v = np.asarray(values)
        if tuple(v.shape) != tuple(info.shape) or v.dtype not in (np.int8, np.uint8):
            raise InputError(
                f"tensor {name}: want an 8-bit array of shape {tuple(info.shape)}, got {v.dtype} {v.shape}"
            )
        b = np.ascontiguousarray(v).reshape(-1).view(np.uint8)
        o = self.tensor_offsets[name]
        act[o : o + b.size] = b

    def read_tensor(self, act: np.ndarray, name: str) -> np.ndarray:
        """A tensor (C, H, W) from the activation memory: int8/uint8 as its TensorInfo says, int32 if 32-bit."""
        if name in self.unwritten:
            raise InputError(f"tensor {name} is never stored: its conv layer runs the max pool after it "
                             "(HardwareConfig.fuse_pool)")
        info = self.tensors[name]
        n = int(np.prod(info.shape))
        o = self.tensor_offsets[name]
        if info.bits == 32:
            return act[o : o + 4 * n].copy().view("<i4").astype(np.int32).reshape(info.shape)
        return act[o : o + n].copy().view(np.int8 if info.signed else np.uint8).reshape(info.shape)

    def read_output(self, act: np.ndarray) -> np.ndarray:
        """The graph output as int32 (C*H*W,): the logits."""
        return self.read_tensor(act, self.output_name).reshape(-1).astype(np.int32)


def build_program(graph: IntegerGraph, cfg: HardwareConfig) -> Program:
    """Pack `graph` for the engine described by `cfg`."""
    A = cfg.axi_bits // 8
    offsets, act_bytes = activation_offsets(graph)
    descs = np.zeros((len(graph.layers), DESC_WORDS), dtype=np.uint32)
    fused = fused_pools(graph, cfg)
    blobs: list[np.ndarray] = []
    wtop = 0
    packed: dict[str, PackedLayer] = {}
    for i, lyr in enumerate(graph.layers):
        flags = encode_layer(descs[i], i, graph, cfg, offsets, fused)
        if isinstance(lyr, ConvLayer):
            shapes = (tuple(graph.tensors[lyr.input].shape), tuple(graph.tensors[lyr.output].shape))
            pk = pack_layer(lyr, cfg, conv_passes(lyr, cfg, *shapes, pool=i in fused))
            packed[lyr.name] = pk
            encode_weights(descs[i], pk, wtop)
            blobs.append(pk.data)
            wtop += pk.data.size
            assert wtop % A == 0
        descs[i][D["FLAGS"]] = flags

    weights = np.concatenate(blobs) if blobs else np.zeros(A, np.uint8)
    tin = graph.tensors[graph.input]
    tout = graph.tensors[graph.output]
    return Program(
        weights=weights.astype(np.uint8),
        descriptors=descs,
        act_bytes=int(act_bytes),
        input_offset=offsets[graph.input],
        input_shape=tuple(int(v) for v in tin.shape),
        output_offset=offsets[graph.output],
        num_classes=int(np.prod(tout.shape)),
        tensors=dict(graph.tensors),
        layer_names=[lyr.name for lyr in graph.layers],
        tensor_offsets=offsets,
        output_name=graph.output,
        packed=packed,
        unwritten={graph.layers[i].output for i in fused},
        hardware=cfg.to_dict(),
    )
