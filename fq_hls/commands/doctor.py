"""`fq-hls doctor`: what to send with a board bug report: versions, root, clocks, register map, a one-image check.

numpy + pynq only (runs on the board). Every section is reported even when an earlier one fails: the point is
to see everything that is wrong at once.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", nargs="?", default=None, metavar="DIR",
                   help="build folder to check (bitstream + .hwh + model.fqz); without it: the environment only")
    p.add_argument("--emulate", action="store_true", help="check against the emulated board")
    from ..hw.config import board_names

    p.add_argument("--board", default=None, choices=board_names(),
                   help="board name when the folder has no hw_config.json")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _versions() -> dict:
    import platform
    import sys
    from importlib import metadata

    out = {"python": sys.version.split()[0], "executable": sys.executable, "machine": platform.machine(),
           "platform": platform.platform()}
    for dist in ("fq-hls", "pynq", "pynqmetadata", "pynqutils", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _environment() -> dict:
    import os
    import sys

    from ..runtime.board import PYNQ_VENV, is_root, root_command

    venv = os.path.isdir(PYNQ_VENV)
    return {"root": is_root(),
            "in_pynq_venv": venv and os.path.realpath(sys.prefix) == os.path.realpath(PYNQ_VENV),
            "pynq_venv": PYNQ_VENV if venv else None,
            "BOARD": os.environ.get("BOARD"), "XILINX_XRT": os.environ.get("XILINX_XRT"),
            "fpga_manager": os.path.isdir("/sys/class/fpga_manager"),
            "run_as_root": None if is_root() else root_command(["fq-hls", "doctor"])}


def _overlay(args) -> dict:
    import os

    import numpy as np

    from ..runtime.driver import check_register_map
    from ..runtime.hwh import read_hwh
    from ..runtime.refcheck import ShippedReference, check_logits, default_images
    from ..runtime.runner import Accelerator, _find_bitfile, _load_config

    out: dict = {}
    engine = _engine(args.path) if os.path.isdir(args.path) else "fq"
    if os.path.isdir(args.path):
        cfg, manifest = _load_config(args.path, args.board, engine)
        out["hardware"] = {"board": cfg.board, "engine": cfg.engine, "clock_mhz": cfg.clock_mhz}
        bit = _find_bitfile(args.path, manifest)
        if bit is not None:
            info = read_hwh(os.path.splitext(bit)[0] + ".hwh")
            out["hwh"] = {"path": info.path, "family": info.family, "pl_clocks_mhz": info.pl_clocks_mhz,
                          "master_ranges": {k: [[hex(lo), hex(hi - 1)] for lo, hi in v]
                                            for k, v in info.master_ranges.items()}}
    with Accelerator.open(args.path, board=args.board, emulate=args.emulate, engine=engine) as acc:
        regs = acc.overlay.ip_dict[acc.driver.name]["registers"]
        check_register_map(regs, acc.driver.name)  # raised already at load; listed here for the report
        out["register_map"] = {k: hex(v["address_offset"]) for k, v in regs.items()}
        out["fclk_mhz"] = acc.clock_mhz
        out["ip"] = {"name": acc.driver.name, "phys_addr": hex(acc.driver.phys_addr), "ctrl": hex(acc.driver.ctrl)}
        out["buffers"] = {n: hex(getattr(acc, n).device_address) for n in ("weights", "desc", "act")}
        x = acc.prepare(default_images(1, acc.program.input_shape))
        logits = acc.run(x)
        shipped = ShippedReference.find(args.path, acc.graph.num_classes)
        out["one_image"] = check_logits(acc.graph, x, logits, shipped) | {"evidence": acc.stats().evidence,
                                                                         "latency_ms": acc.stats().latency_ms["mean"]}
        out["one_image"]["logits"] = np.asarray(logits[0]).tolist()
    return out


def _engine(folder: str) -> str:
    import os

    try:
        with open(os.path.join(folder, "hw_config.json"), encoding="utf-8") as f:
            d = json.loads(f.read(1 << 20))
        return str(d.get("hardware", d).get("engine", "fq"))
    except (OSError, ValueError, AttributeError):
        return "fq"


def run(args) -> int:
    from ..errors import FQError

    report: dict = {"versions": _versions(), "environment": _environment()}
    ok = True
    if args.path is not None:
        try:
            report["overlay"] = _overlay(args)
            ok = bool(report["overlay"]["one_image"]["bit_exact"])
        except (FQError, OSError, RuntimeError, ValueError) as e:
            report["overlay_error"] = f"{type(e).__name__}: {' '.join(str(e).split())}"
            ok = False
    if args.json:
        print(json.dumps(report, default=str))
    else:
        for section, body in report.items():
            print(f"{section}:")
            if isinstance(body, dict):
                for k, v in body.items():
                    print(f"  {k}: {v}")
            else:
                print(f"  {body}")
    return 0 if ok else 1
