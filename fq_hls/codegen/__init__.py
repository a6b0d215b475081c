"""Hardware config -> HLS sources: copies hls_src/ and writes the generated fq_config.h (+ register map JSON)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from string import Template

from ..hw import abi
from ..hw.config import HardwareConfig
from ..hw.cycles import DEPTHS
from ..hw.descriptors import DESC_FIELDS, DESC_WORDS
from ..hw.geometry import (
    POOL_WORDS,
    fill_bytes,
    lb_align,
    lb_bank_depth,
    lb_banks,
    lb_copies,
    lb_depth,
    lb_lanes_per_copy,
    lb_slack,
    lb_ubanks,
    lb_uwords,
)
from ..hw.memories import manifest
from ..hw.memories import pragmas as memory_pragmas
from ..hw.streams import max_channels_per_lane, stream_depths

HLS_SRC = Path(__file__).resolve().parents[2] / "hls_src"
TEMPLATE = Path(__file__).resolve().parent / "templates" / "fq_config.h.tmpl"
# the engine: the top, then its stage headers (each includes the stages it builds on)
SOURCES = (
    "fq_accel.cpp",
    "fq_engine.h",
    "fq_conv.h",
    "fq_pool.h",
    "fq_compute.h",
    "fq_store.h",
    "fq_load.h",
    "fq_buffers.h",
    "fq_geometry.h",
    "fq_pe.h",
    "fq_types.h",
    "fq_stream.h",
    "fq_ports.h",
    "fq_depths.h",
)


def config_header(cfg: HardwareConfig) -> str:
    """The text of fq_config.h for `cfg`."""
    if cfg.axi_bits % 8 or cfg.axi_bits < 32:
        raise ValueError(f"axi_bits {cfg.axi_bits} must be a multiple of 8 and at least 32")
    for name in ("dsp_lanes", "lut_lanes"):
        if not 0 <= getattr(cfg, name) <= cfg.lanes:
            raise ValueError(f"{name} {getattr(cfg, name)} must be within 0 .. lanes ({cfg.lanes})")
    if cfg.in_ports not in (1, 2):
        raise ValueError(f"in_ports {cfg.in_ports} must be 1 or 2")
    values = dict(
        board=cfg.board,
        engine=cfg.engine,
        engine_fq=1 if cfg.shift_pe else 0,
        engine_sparse=1 if cfg.sparse else 0,
        int8_pack=1 if cfg.int8_pack else 0,
        dsp_a_bits=25 if cfg.info.family == "zynq7" else 27,
        dsp_lanes=cfg.pe_dsp_lanes,
        lanes=cfg.lanes,
        pixels=cfg.pixels,
        axi_bits=cfg.axi_bits,
        axi_bytes=cfg.axi_bits // 8,
        in_ports=cfg.in_ports,
        fill_bytes=fill_bytes(cfg),
        max_in_ch=cfg.max_in_ch,
        max_out_ch=cfg.max_out_ch,
        max_width=cfg.max_width,
        max_kernel=cfg.max_kernel,
        max_rows=cfg.max_width,
        max_entries=cfg.max_nnz_per_lane,
        max_j=max_channels_per_lane(cfg),
        lb_depth=lb_depth(cfg),
        lb_banks=lb_banks(cfg),
        lb_bank_depth=lb_bank_depth(cfg),
        lb_copies=lb_copies(cfg),
        lb_lanes_per_copy=lb_lanes_per_copy(cfg),
        lb_slack=lb_slack(cfg),
        pool_words=POOL_WORDS,
        lb_uram=1 if cfg.lb_uram else 0,
        lb_align=lb_align(cfg),
        lb_ubanks=lb_ubanks(cfg),
        lb_uwords=lb_uwords(cfg),
        acc_bits=cfg.acc_bits,
        accq_bits=cfg.accq_bits,
        accm_bits=cfg.accm_bits,
        exp_bits=cfg.exp_bits,
        mu_delta_bits=cfg.mu_delta_bits,
        fill_overlap=1 if cfg.fill_overlap else 0,
        s_in_depth=stream_depths(cfg)["s_in"],
        s_out_depth=stream_depths(cfg)["s_out"],
        desc_words=DESC_WORDS,
        clock_mhz=repr(float(cfg.clock_mhz)),
        memory_pragmas=" \\\n".join(f'    _Pragma("{p}")' for p in memory_pragmas(manifest(cfg), "top")),
        pass_pragmas=" \\\n".join(f'    _Pragma("{p}")' for p in memory_pragmas(manifest(cfg), "pass")),
        desc_enum="\n".join(f"    {name} = {i}," for i, name in enumerate(DESC_FIELDS)),
        **{f"depth_{k}": v for k, v in DEPTHS.items()},
    )
    return Template(TEMPLATE.read_text()).substitute(values)


def registers_json(cfg: HardwareConfig) -> str:
    return json.dumps(
        {
            "top": abi.TOP,
            "vlnv": abi.VLNV,
            "address_range": abi.ADDRESS_RANGE,
            "control": {"CTRL": abi.CTRL, "GIE": abi.GIE, "IER": abi.IER, "ISR": abi.ISR},
            "registers": abi.REGISTERS,
            "desc_words": DESC_WORDS,
            "config": cfg.to_dict(),
        },
        indent=2,
    )


def write_sources(cfg: HardwareConfig, outdir: Path) -> list[Path]:
    """Copy the engine sources into `outdir` and write fq_config.h and fq_accel_regs.json; returns the paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in SOURCES:
        dst = outdir / name
        shutil.copyfile(HLS_SRC / name, dst)
        paths.append(dst)
    hdr = outdir / "fq_config.h"
    hdr.write_text(config_header(cfg))
    regs = outdir / "fq_accel_regs.json"
    regs.write_text(registers_json(cfg) + "\n")
    return paths + [hdr, regs]
