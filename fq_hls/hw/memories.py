"""The memory manifest: every array and stream the synthesized engine declares, with its shape, width,
partitioning and binding (docs/engine.md "Memories").

One definition serves three readers:
- codegen writes the storage pragmas from it (fq_config.h FQ_MEMORY_PRAGMAS, placed in the top function), so
  the binding Vitis HLS sees is the one listed here;
- the C-simulation reports the shapes it actually declared (fq_accel_memory_report), and a test compares them
  with this list, so the list cannot drift from the source;
- the resource model (fq_hls.cost.resources) counts BRAM, URAM, LUTRAM, SRL and register bits from it, so the
  model counts exactly what the source declares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import HardwareConfig
from .geometry import (
    POOL_WORDS,
    fill_bytes,
    lb_bank_depth,
    lb_banks,
    lb_copies,
    lb_lanes_per_copy,
    lb_ubanks,
    lb_uwords,
)
from .streams import FQ_ENTRY_BITS, INT8_ENTRY_BITS, max_channels_per_lane, stream_depths

ACT_BITS = 9  # act_t: int8 or uint8 widened to 9 bits
PARAM_BITS = 32 + 16 + 16 + 6 + 6  # chparam_t in the synthesized path: bias, mult, res_mult, shift, res_shift

# BRAM18 aspect ratios (width, depth); width 36 only in simple dual port mode (one read + one write port)
BRAM18_SHAPES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))
BRAM18_SHAPES_TDP = BRAM18_SHAPES[:-1]  # true dual port: at most 18 bits per port
URAM_WIDTH, URAM_DEPTH = 72, 4096  # URAM288: one fixed aspect ratio
LUTRAM_BITS = 32  # bits per LUT of a simple dual-port LUTRAM (RAM64M: 3 x 64-bit + 1 address LUT per 3 bits)
SRL_DEPTH = 32  # SRLC32E: one LUT per bit per 32 entries


@dataclass(frozen=True)
class Memory:
    """One array or stream as the HLS source declares it: `count` physical memories (after complete
    partitioning) of `depth` words of `width` bits, bound as `storage` (ram_s2p, ram_t2p, fifo, registers) in
    `impl` (bram, uram, lutram, srl, ff). `buffers`: 2 for a PIPO channel of a DATAFLOW region (Vitis
    double-buffers it). `scope`: where its pragmas go: "top" (a static, FQ_MEMORY_PRAGMAS), "pass" (a local
    of the pass loop, FQ_PASS_PRAGMAS) or "local" (bound by hand where it is declared)."""

    name: str
    count: int
    depth: int
    width: int
    storage: str
    impl: str
    what: str
    part: str  # the resource-model part it belongs to
    buffers: int = 1
    scope: str = "top"

    @property
    def bits(self) -> int:
        return self.buffers * self.count * self.depth * self.width


def bram18_for(depth: int, width: int, true_dual: bool = False) -> int:
    """BRAM18 primitives for one memory of `depth` words of `width` bits (best aspect ratio, no sharing)."""
    if depth <= 0 or width <= 0:
        return 0
    shapes = BRAM18_SHAPES_TDP if true_dual else BRAM18_SHAPES
    return min(math.ceil(width / w) * math.ceil(depth / d) for w, d in shapes)


def uram_for(depth: int, width: int) -> int:
    """URAM288 blocks for one memory: 72-bit words, 4096 deep (Vitis packs no narrower words into a row)."""
    if depth <= 0 or width <= 0:
        return 0
    return math.ceil(width / URAM_WIDTH) * math.ceil(depth / URAM_DEPTH)


def packet_bits(cfg: HardwareConfig) -> int:
    """Bits of one compute -> store packet (hls_src/fq_types.h pkt_t)."""
    if cfg.shift_pe and cfg.dsp_lanes < cfg.lanes:
        return cfg.pixels * (cfg.accq_bits + cfg.accm_bits)
    if cfg.shift_pe:  # every lane on DSPs: one sum per pixel (PKT_MV = 1)
        return cfg.pixels * cfg.accq_bits + cfg.accm_bits
    return cfg.pixels * cfg.acc_bits + cfg.accm_bits


def _wbuf_impl(cfg: HardwareConfig, lb_uram_blocks: int) -> str:
    """Binding of the weight buffer (P memories, one per lane, double-buffered): URAM while the board has URAM
    left for both buffers of every lane, else BRAM."""
    entry = FQ_ENTRY_BITS if cfg.sparse else INT8_ENTRY_BITS
    need = 2 * cfg.lanes * uram_for(cfg.max_nnz_per_lane, entry)
    return "uram" if need and cfg.info.uram - lb_uram_blocks >= need else "bram"


def manifest(cfg: HardwareConfig) -> list[Memory]:
    """Every memory the synthesized engine declares for `cfg` (hls_src/fq_buffers.h, fq_conv.h, fq_store.h)."""
    P, V = cfg.lanes, cfg.pixels
    fq = cfg.sparse  # per-lane line-buffer readers and 16-bit entries
    mems: list[Memory] = []
    lb_store = "ram_t2p" if fq and lb_lanes_per_copy(cfg) > 1 else "ram_s2p"
    if cfg.lb_uram:
        mems.append(Memory("lbu", lb_copies(cfg) * lb_ubanks(cfg), lb_uwords(cfg), 72, lb_store, "uram",
                           "line buffer: copies x banks of 8-entry words", "line_buffer"))
    else:
        mems.append(Memory("lbb", lb_copies(cfg) * lb_banks(cfg), lb_bank_depth(cfg), ACT_BITS, lb_store, "bram",
                           "line buffer: copies x banks of entries", "line_buffer"))
    lb_uram_blocks = sum(m.count * uram_for(m.depth, m.width) for m in mems if m.impl == "uram")
    entry = FQ_ENTRY_BITS if fq else INT8_ENTRY_BITS
    # the pass loop's PIPO channels (hls_src/fq_conv.h conv_layer): one buffer loads while the other runs
    mems.append(Memory("wbuf", P, cfg.max_nnz_per_lane, entry, "ram_s2p", _wbuf_impl(cfg, lb_uram_blocks),
                       "weight entries of a pass, one memory per lane", "weight_buffer", 2, "pass"))
    max_j = max_channels_per_lane(cfg)
    mems.append(Memory("chtab", 1, P * max_j, 16, "ram_s2p", "bram", "output channel of each lane's j-th packet",
                       "channel_table", 2, "pass"))
    for name in ("chcnt", "chlive"):
        mems.append(Memory(name, P, 1, 16, "registers", "ff", "channels per lane", "channel_table", 2, "pass"))
    mems.append(Memory("lane_len", P, 1, 32, "registers", "ff", "entries up to each lane's last channel end",
                       "channel_table", 2, "pass"))
    mems.append(Memory("prm", 1, cfg.max_out_ch, PARAM_BITS, "ram_s2p", "bram", "per-channel requantization",
                       "param_table"))
    if cfg.fuse_pool:
        banks = max(1, V // 2)
        mems.append(Memory("pool_acc", banks, -(-POOL_WORDS // banks), ACT_BITS, "ram_s2p", "lutram",
                           "fused max pool: running row maxima", "fused_pool"))
        mems.append(Memory("pool_last", 1, cfg.max_out_ch, ACT_BITS, "ram_s2p", "bram",
                           "fused max pool: last pixel of the previous tile", "fused_pool"))
    depths = stream_depths(cfg)
    pkt = packet_bits(cfg)
    mems.append(Memory("s_in", 1, depths["s_in"], fill_bytes(cfg) * ACT_BITS, "fifo", "srl",
                       "fill beats, load -> compute", "streams", scope="local"))
    mems.append(Memory("s_in_pool", 1, depths["s_in"], fill_bytes(cfg) * ACT_BITS, "fifo", "srl",
                       "fill beats, load -> pool", "streams", scope="local"))
    mems.append(Memory("s_out", P, depths["s_out"], pkt, "fifo", "srl", "packets, compute -> store", "streams",
                       scope="local"))
    mems.append(Memory("prev_pkt", P, 1, pkt, "registers", "ff", "store: each lane's previous packet of the tile",
                       "streams", scope="local"))
    return mems


@dataclass
class MemoryCost:
    bram18: int = 0
    uram: int = 0
    lut: int = 0  # LUTRAM and SRL LUTs
    ff: int = 0


def cost(m: Memory) -> MemoryCost:
    """Primitives for one manifest entry (both buffers of a PIPO channel)."""
    n = m.count * m.buffers
    if m.impl == "bram":
        return MemoryCost(bram18=n * bram18_for(m.depth, m.width, m.storage == "ram_t2p"))
    if m.impl == "uram":
        return MemoryCost(uram=n * uram_for(m.depth, m.width))
    if m.impl == "lutram":
        return MemoryCost(lut=n * math.ceil(m.depth * m.width / LUTRAM_BITS))
    if m.impl == "srl":  # a FIFO: SRL LUTs per bit, plus its read/write pointers and flags
        return MemoryCost(lut=n * (m.width * math.ceil(m.depth / SRL_DEPTH) + 8), ff=n * (m.width + 8))
    if m.impl == "ff":
        return MemoryCost(ff=m.bits)
    raise ValueError(f"memory {m.name}: unknown binding {m.impl!r}")


def pragmas(mems: list[Memory], scope: str = "top") -> list[str]:
    """The storage pragmas of the manifest's memories of `scope`: "top" for the top function
    (fq_config.h FQ_MEMORY_PRAGMAS), "pass" for the pass loop's body (FQ_PASS_PRAGMAS)."""
    out = []
    for m in mems:
        if m.scope != scope:
            continue
        if m.storage == "registers":
            out.append(f"HLS ARRAY_PARTITION variable = {m.name} complete dim = 0")
            continue
        if m.name in ("lbb", "lbu"):
            out.append(f"HLS ARRAY_PARTITION variable = {m.name} complete dim = 1")
            out.append(f"HLS ARRAY_PARTITION variable = {m.name} complete dim = 2")
        elif m.count > 1:
            out.append(f"HLS ARRAY_PARTITION variable = {m.name} complete dim = 1")
        out.append(f"HLS BIND_STORAGE variable = {m.name} type = {m.storage} impl = {m.impl}")
    return out
