"""Overlay and model agree: refuse a program image the loaded overlay cannot run, naming the mismatch, before
anything is written to the IP (issue 17, item 8). numpy only.

Three checks, each a DeviceError whose one line names the field and both values:

* `check_overlay_params`: the engine parameters an overlay's .hwh states for the IP (FQ_* parameters: the
  emulated board's .hwh has them) against the build's hw_config.json the runtime loaded;
* `check_program` (a): the program image was packed for this overlay's engine: every HardwareConfig field
  that shapes the program or the engine that reads it (engine, P lanes, V pixels, buffer sizes, AXI width,
  datapath widths; not the board name or the clock) and the program format version
  (fq_hls.hw.program.PROGRAM_FORMAT; an overlay that states none predates versioning, i.e. format 1);
* `check_program` (b): every layer descriptor fits the overlay's buffers (channels, kernel, output rows, line
  buffer, weight buffer, entry size, offsets inside the buffers), so that a program written for another
  engine, or edited, is refused by layer name rather than run into an engine status error or a hang.
"""

from __future__ import annotations

import numpy as np

from ..errors import DeviceError
from ..hw.config import HardwareConfig
from ..hw.descriptors import FLAG_FLAT, FLAG_OUT32, FLAG_POOL, OP_AVGPOOL, OP_CONV, OP_FUSED, OP_MAXPOOL, D
from ..hw.geometry import geometry, lb_depth, pool_channels
from ..hw.program import PROGRAM_FORMAT, Program
from ..hw.streams import entry_bytes
from ..node_geometry import out_size

# HardwareConfig fields that do not change the program image or how the engine reads it
NEUTRAL_FIELDS = ("board", "clock_mhz")


def _fields(cfg: HardwareConfig) -> dict:
    return {k: v for k, v in cfg.to_dict().items() if k not in NEUTRAL_FIELDS}


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def check_overlay_params(hwh_params: dict[str, str], cfg: HardwareConfig, where: str) -> None:
    """The IP parameters of the .hwh (FQ_<FIELD> -> value) against `cfg`; missing parameters are not checked
    (a Vivado .hwh of an HLS IP has none: there the build manifest is the overlay's word)."""
    for key, want in _fields(cfg).items():
        got = hwh_params.get(f"FQ_{key.upper()}")
        if got is None:
            continue
        if isinstance(want, bool):
            got_v: object = str(got).strip().lower() in ("1", "true")
        else:
            got_v = got
        if not _same(got_v, want):
            raise DeviceError(f"{where}: the overlay's .hwh says {key}={got}, its hardware configuration says "
                              f"{key}={want}: the bitstream was built for another engine (rebuild, or use the "
                              "hw_config.json of that build)")
    got = hwh_params.get("FQ_PROGRAM_FORMAT")
    if got is not None and not _same(got, PROGRAM_FORMAT):
        raise DeviceError(f"{where}: the overlay reads program format {got}, this runtime writes format "
                          f"{PROGRAM_FORMAT}; rebuild the overlay from this checkout")


def check_program(program: Program, cfg: HardwareConfig, where: str, overlay_format: int | None = None) -> None:
    """Refuse `program` unless the overlay described by `cfg` (and its program format) can run it."""
    fmt = PROGRAM_FORMAT if overlay_format is None else overlay_format
    if not _same(program.format_version, fmt):
        raise DeviceError(f"{where}: program format {program.format_version}, the overlay reads format {fmt}; "
                          "rebuild the overlay or the program from the same checkout")
    if not program.hardware:
        raise DeviceError(f"{where}: the program does not say which engine it was packed for (Program.hardware)")
    want = _fields(cfg)
    for key, value in want.items():
        if key not in program.hardware:
            raise DeviceError(f"{where}: the program was packed without engine field {key!r}; repack it "
                              f"(the overlay has {key}={value})")
        if not _same(program.hardware[key], value):
            raise DeviceError(f"{where}: the program was packed for {key}={program.hardware[key]}, the overlay "
                              f"has {key}={value}")
    _check_descriptors(program, cfg, where)


def _check_descriptors(program: Program, cfg: HardwareConfig, where: str) -> None:
    desc = np.asarray(program.descriptors)
    names = list(program.layer_names) or [str(i) for i in range(len(desc))]
    lb = lb_depth(cfg)
    wbytes = int(np.asarray(program.weights).size)
    for i, d in enumerate(desc):
        name = names[i] if i < len(names) else str(i)

        def need(ok: bool, what: str, name=name) -> None:
            if not ok:
                raise DeviceError(f"{where}: layer {name}: {what}")

        op = int(d[D["OP"]])
        c, h, w = (int(d[D[k]]) for k in ("IN_CH", "IN_H", "IN_W"))
        co, ho, wo = (int(d[D[k]]) for k in ("OUT_CH", "OUT_H", "OUT_W"))
        k, s, p = (int(d[D[f]]) for f in ("KERNEL", "STRIDE", "PAD"))
        need(op in (OP_CONV, OP_MAXPOOL, OP_AVGPOOL, OP_FUSED), f"op code {op} is not one this engine runs")
        if op == OP_CONV:
            need(c <= cfg.max_in_ch, f"{c} input channels > the overlay's max_in_ch {cfg.max_in_ch}")
            need(co <= cfg.max_out_ch, f"{co} output channels > the overlay's max_out_ch {cfg.max_out_ch}")
            need(1 <= k <= cfg.max_kernel, f"kernel {k} > the overlay's max_kernel {cfg.max_kernel}")
            need(ho <= cfg.max_width, f"{ho} output rows > the overlay's max_width {cfg.max_width}")
            need(s in (1, 2) and ho == out_size(h, k, s, p) and wo == out_size(w, k, s, p),
                 f"geometry {h}x{w} -> {ho}x{wo} at kernel {k}, stride {s}, pad {p} is not a conv this engine runs")
            words = geometry(w, ho, wo, k, s, p, cfg, bool(int(d[D["FLAGS"]]) & FLAG_FLAT)).words(c)
            need(words <= lb, f"line buffer needs {words} entries > the overlay's {lb}")
            entries = int(d[D["MAX_ENTRIES"]])
            need(entries <= cfg.max_nnz_per_lane,
                 f"{entries} weight entries per lane > the overlay's weight buffer max_nnz_per_lane {cfg.max_nnz_per_lane}")
            need(int(d[D["ENTRY_BYTES"]]) == entry_bytes(cfg.engine),
                 f"{int(d[D['ENTRY_BYTES']])}-byte weight entries, the overlay's {cfg.engine} engine reads "
                 f"{entry_bytes(cfg.engine)}-byte entries")
            need(int(d[D["W_OFF"]]) + int(d[D["W_BYTES"]]) <= wbytes, "weight stream lies outside the weight buffer")
        elif op == OP_MAXPOOL:
            need(c <= cfg.max_in_ch and ho <= cfg.max_width, "map larger than the overlay's buffers")
            need(1 <= k <= cfg.max_kernel and s in (1, 2), f"pool kernel {k} / stride {s} outside the overlay")
            g = geometry(w, ho, wo, k, s, p, cfg)
            need(pool_channels(c, g, cfg) >= 1, f"line buffer needs {g.words(1)} entries per channel > {lb}")
        in_bytes, out_bytes = c * h * w, co * ho * wo
        need(int(d[D["IN_OFF"]]) + in_bytes <= program.act_bytes, "input lies outside the activation buffer")
        flags = int(d[D["FLAGS"]])
        if op != OP_FUSED and not (op == OP_CONV and flags & FLAG_POOL):  # a fused pool writes a smaller map
            out_bytes *= 4 if op == OP_CONV and flags & FLAG_OUT32 else 1
            need(int(d[D["OUT_OFF"]]) + out_bytes <= program.act_bytes, "output lies outside the activation buffer")
