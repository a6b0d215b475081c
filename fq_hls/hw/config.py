"""One hardware configuration per board: it feeds codegen (C++ constants), the TCL, the runtime and the cost model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class BoardInfo:
    name: str  # command-line name
    part: str
    family: str  # "zynq7" or "zynqmp"
    pynq_board: str  # board name as PYNQ images report it
    luts: int
    ffs: int
    dsps: int
    bram36: int
    uram: int
    ddr_gbps: float  # peak PS DRAM bandwidth (GB/s): bus width x transfer rate (fq_hls.hw.ddr: sources, sustained)
    hp_ports: int


BOARDS: dict[str, BoardInfo] = {
    "pynq-z2": BoardInfo("pynq-z2", "xc7z020clg400-1", "zynq7", "Pynq-Z2", 53200, 106400, 220, 140, 0, 2.1, 4),
    "zcu104": BoardInfo("zcu104", "xczu7ev-ffvc1156-2-e", "zynqmp", "ZCU104", 230400, 460800, 1728, 312, 96, 19.2, 4),
    "ultra96v2": BoardInfo("ultra96v2", "xczu3eg-sbva484-1-e", "zynqmp", "Ultra96", 70560, 141120, 360, 216, 0, 8.5, 4),
    "kv260": BoardInfo("kv260", "xck26-sfvc784-2LV-c", "zynqmp", "KV260", 117120, 234240, 1248, 144, 64, 19.2, 4),
}


@dataclass(frozen=True)
class HardwareConfig:
    """Engine parameters. P lanes (output channels in parallel) x V pixels per lane."""

    board: str
    engine: str  # one of ENGINES
    lanes: int  # P
    pixels: int  # V
    clock_mhz: float
    axi_bits: int  # data width of each m_axi port
    max_in_ch: int = 512  # input line buffer: channels
    max_width: int = 232  # input line buffer: padded width (224 + 2 * 3 + rounding)
    max_kernel: int = 7
    max_out_ch: int = 1024
    max_nnz_per_lane: int = 4608  # weight buffer depth per lane (512 * 3 * 3)
    acc_bits: int = 32  # int8 engine accumulator; the IR's recombined accumulator (fq_hls.ir.ACC_BITS)
    # FQ shift PE (docs/engine.md "Datapath"): width of the exponent the shifter applies (exp < 2^exp_bits;
    # fq5 shift-mode layers use exponents 0..15 (sign + 4-bit exponent), recentralized ones 0..7), and of the per-layer
    # shift of the mean accumulator's input (|mu_shift[+] - mu_shift[-]| < 2^mu_delta_bits). Layers that need
    # more are an InputError (exponents) or fall back to signed-digit terms (means); see docs/weight_stream.md.
    # line-buffer entries per copy (the static size of the HLS array); 0 = sized for ResNet-18 at 224x224 and
    # 32x32 in row mode at this V (fq_hls.hw.geometry.lb_depth); a layer that needs more is refused by name
    lb_words: int = 0
    exp_bits: int = 4
    mu_delta_bits: int = 1
    # Line-buffer fill beside compute (docs/engine.md "Tiling and dataflow"): the input rows of output row y + 1
    # are written into the free ring slots while the tiles of row y run. Needs a write port on every line-buffer
    # copy: the FQ engine keeps one copy per lane (one read + one write port) instead of one per two lanes; the
    # int8 engine's single broadcast copy has its second port free anyway. False: fill, then compute.
    fill_overlap: bool = True
    # A 3x3 stride-2 max pool right after a conv layer (ResNet-18's stem) runs in that layer's store stage
    # (descriptor FLAG_POOL, docs/engine.md): the conv's output map never goes to DDR and back.
    fuse_pool: bool = True
    # m_axi ports that read input activations (gmem_in, and gmem_in2 on the same buffer): the line-buffer fill
    # takes one AXI beat from each per cycle (docs/accel_abi.md). 1 or 2; the overlays wire both.
    in_ports: int = 2
    # Line-buffer copies in UltraRAM (boards with URAM): 8 pixels per 72-bit word, lb_ubanks(cfg) banks, so a
    # lane's V-pixel read takes a few wide URAM ports instead of V BRAM18 ports. Row pitches (flat maps: each
    # channel's region) are rounded up to whole fill beats so that the fill writes whole words
    # (fq_hls.hw.geometry.lb_align).
    lb_uram: bool = False
    # int8 MACs (engines int8 and int8_sparse): two pixels of a lane share its weight on one DSP multiplier,
    # (x1 << 16) + x0 times w (hls_src/fq_pe.h mac2; 25-bit operand: DSP48E1 and DSP48E2). False: one MAC per DSP.
    int8_pack: bool = True
    # FQ engine: lanes 0 .. dsp_lanes - 1 multiply by the entry's whole weight on DSPs (one per pixel, no
    # shifters, docs/engine.md), so the DSPs the shift PEs leave idle add lanes (chosen by the sizing search)
    dsp_lanes: int = 0
    # int8 engines: lanes P - lut_lanes .. P - 1 multiply in LUTs (one int8 x int9 LUT multiplier per pixel), so
    # the LUTs the DSP-bound engine leaves idle add lanes (chosen by the sizing search)
    lut_lanes: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def info(self) -> BoardInfo:
        return BOARDS[self.board]

    @property
    def sparse(self) -> bool:
        """Sparse weight stream (16-bit entries with positions), one line-buffer reader per lane."""
        return self.engine in SPARSE_ENGINES

    @property
    def shift_pe(self) -> bool:
        """Shift PEs (q- and mean accumulators) rather than int8 multiply-accumulate."""
        return self.engine == "fq"

    @property
    def macs_per_dsp(self) -> float:
        """Multiply-accumulates one DSP slice does per cycle in this engine's PEs (0: the PEs use no DSP)."""
        if self.shift_pe:
            return 1.0 if self.dsp_lanes else 0.0
        if self.lut_lanes >= self.lanes:
            return 0.0
        return 2.0 if self.int8_pack and self.pixels >= 2 else 1.0

    @property
    def pe_dsp_lanes(self) -> int:
        """Lanes whose PEs multiply on DSPs (fq_config.h DSP_LANES: lanes 0 .. this - 1)."""
        return self.dsp_lanes if self.shift_pe else self.lanes - self.lut_lanes

    @property
    def accq_bits(self) -> int:
        """Signed width of the FQ q-accumulator: enough for |sum of +-(x << exp)| <= 255 * 2^(2^exp_bits - 1) *
        entries, capped at acc_bits. Under the cap the stream compiler checks every output channel's worst case
        (fq_hls.hw.streams) and refuses a layer that could overflow, naming it."""
        need = (255 * (1 << ((1 << self.exp_bits) - 1)) * self.max_nnz_per_lane).bit_length() + 1
        return min(need, self.acc_bits)

    @property
    def accm_bits(self) -> int:
        """Signed width of the FQ mean accumulator: |sum of +-(x << d)| <= 255 * 2^(2^mu_delta_bits - 1) * entries."""
        return (255 * (1 << ((1 << self.mu_delta_bits) - 1)) * self.max_nnz_per_lane).bit_length() + 1


# Engine flavours (docs/engine.md): FQ shift PEs on a sparse stream; int8 MACs on a dense stream; int8 MACs on
# the FQ engine's sparse stream (what sparsity buys without shift arithmetic).
ENGINES = ("fq", "int8", "int8_sparse")
SPARSE_ENGINES = ("fq", "int8_sparse")

# Default engine sizes per board; the cost model (fq_hls.cost) searches the largest size that fits and may
# replace these. Clocks are what these parts close comfortably for an HLS design of this kind.
_DEFAULTS = {
    ("pynq-z2", "fq"): dict(lanes=16, pixels=8, clock_mhz=100.0, axi_bits=64),
    ("pynq-z2", "int8"): dict(lanes=16, pixels=8, clock_mhz=100.0, axi_bits=64),
    ("zcu104", "fq"): dict(lanes=64, pixels=16, clock_mhz=200.0, axi_bits=128),
    ("zcu104", "int8"): dict(lanes=64, pixels=16, clock_mhz=200.0, axi_bits=128),
    ("ultra96v2", "fq"): dict(lanes=32, pixels=8, clock_mhz=200.0, axi_bits=128),
    ("ultra96v2", "int8"): dict(lanes=16, pixels=8, clock_mhz=200.0, axi_bits=128),
    ("kv260", "fq"): dict(lanes=64, pixels=8, clock_mhz=200.0, axi_bits=128),
    ("kv260", "int8"): dict(lanes=32, pixels=16, clock_mhz=200.0, axi_bits=128),
}
# the sparse int8 engine starts from the FQ engine's sizes (same stream, same readers)
_DEFAULTS.update({(b, "int8_sparse"): dict(v) for (b, e), v in _DEFAULTS.items() if e == "fq"})


def board_names() -> list[str]:
    return list(BOARDS)


def hardware_config(board: str, engine: str = "fq", **overrides) -> HardwareConfig:
    """The default configuration of `engine` on `board`; keyword overrides replace fields."""
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r}; choose one of {', '.join(BOARDS)}")
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    cfg = HardwareConfig(board=board, engine=engine, **_DEFAULTS[(board, engine)])
    return replace(cfg, **overrides) if overrides else cfg
