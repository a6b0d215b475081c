"""`fq-hls demo`: the whole flow on the embedded default model.

The package ships a CIFAR-10 ResNet-18 compressed by this project's own pipeline (fq5, and int8 for the 8-bit
baseline; see fq_hls/data/README.md). The demo: reads the .fqz -> lowers it to the integer IR -> takes the
board's sized FQ and 8-bit engines (fq_hls.hw.sized, what `fq-hls report` chose; --config default: the board
defaults) and their resources
(Yosys-synthesized datapaths + resource model) -> runs both on the emulated
board (the C-simulated HLS kernel behind pynq's Device/allocate/MMIO API) through the PYNQ driver -> checks every
image bit for bit against the numpy reference -> prints FQ against 8-bit, every number with its evidence label.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import argtypes

DATA = Path(__file__).resolve().parent.parent / "data"
FQ_MODEL = DATA / "resnet18_cifar10_fq5.fqz"
INT8_MODEL = DATA / "resnet18_cifar10_int8.fqz"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..hw.config import board_names

    p.add_argument("--board", default="pynq-z2", choices=board_names(),
                   help="board to size and emulate (default pynq-z2)")
    p.add_argument("--images", type=argtypes.images, default=4, metavar="N", help="images per engine (default 4)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="CIFAR-10 test images (cifar10-jpeg.npz folder or cifar-10-batches-py) for top-1; "
                        "default: deterministic synthetic images")
    p.add_argument("--fq-model", default=str(FQ_MODEL), help="FQ model (default: the embedded fq5 model)")
    p.add_argument("--int8-model", default=str(INT8_MODEL), help="8-bit model (default: the embedded int8 model)")
    p.add_argument("--config", choices=("sized", "default"), default="sized",
                   help="sized (default): each engine as `fq-hls report` sized it for the board (shipped "
                        "with fq-hls); default: the board's default engines")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-o", "--output", default=None, metavar="DIR", help="also write demo.json/demo.md here")
    p.add_argument("--force", action="store_true", help="with -o: replace demo.json/demo.md already in DIR")


def _images(args, shape_chw):
    import numpy as np

    from ..errors import InputError

    if args.images < 1:
        raise InputError(f"--images must be >= 1, got {args.images}")
    if args.data:
        from ..datasets import load_images

        x, y = load_images(args.data, args.images)
        c, h, w = shape_chw
        if x.shape[1:] != (h, w, c):
            raise InputError(f"{args.data}: images are {x.shape[1:]} (HxWxC), the network takes {(h, w, c)}")
        return x, y
    argtypes.check_image_budget(args.images, shape_chw, "--images")
    c, h, w = shape_chw
    return np.random.default_rng(0).integers(0, 256, size=(args.images, h, w, c), dtype=np.uint8), None


def _emulate(model_path: str, engine: str, cfg, images, labels, log) -> dict:
    import time

    import numpy as np

    from ..fqz import read_fqz
    from ..lower import lower
    from ..reference import run_integer
    from ..runtime.runner import Accelerator

    graph = lower(read_fqz(model_path))
    t0 = time.perf_counter()
    with Accelerator(graph, cfg, emulate=True) as acc:
        x = acc.prepare(images)
        logits = acc.run(x)
        st = acc.stats()
    wall = time.perf_counter() - t0
    ref = np.asarray(run_integer(graph, x))
    exact = bool(np.array_equal(ref.astype(np.int64), np.asarray(logits).astype(np.int64)))
    out = {"engine": engine, "model": Path(model_path).name, "lanes": cfg.lanes, "pixels": cfg.pixels,
           "dsp_lanes": cfg.pe_dsp_lanes,
           "clock_mhz": cfg.clock_mhz, "images": int(len(images)), "bit_exact": exact,
           "cycles": st.cycles, "latency_ms": st.latency_ms, "fps": st.fps, "evidence": st.evidence,
           "emulation_s": round(wall, 2)}
    if labels is not None:
        real = graph.dequantize(graph.output, logits)
        out["top1"] = float(np.mean(np.argmax(real, axis=1) == labels))
    log(f"  {engine:4s} engine P={cfg.lanes} V={cfg.pixels}: {len(images)} images, bit-exact={exact}, "
        f"{out['fps']:.1f} fps ({st.evidence})")
    return out


def _fmt(v, nd=1) -> str:
    if isinstance(v, float) and nd != 1:
        return f"{v:,.{nd}f}"
    from ..cost.report import _v

    return _v(v)


def markdown(res: dict) -> str:
    m = res["models"]
    lines = [f"# fq-hls demo: CIFAR-10 ResNet-18 on {res['board']} (emulated board)", ""]
    lines += ["## Models (embedded; produced by `fq-hls compress`)", "",
              "| model | method | sparsity | size (bytes) | CR vs fp32 | top-1 recorded at compression |",
              "|---|---|---|---|---|---|"]
    for k in ("fq", "int8"):
        r = m[k]
        acc = r.get("accuracy") or {}
        t1 = f"{acc['top1']:.2f} % ({acc['images']} images)" if acc else "-"
        lines.append(f"| {r['file']} | {r['method']} | {100 * r['sparsity']:.2f} % | {r['size_bytes']:,} "
                     f"| {r['compression_ratio']:.2f}x | {t1} |")
    lines += ["", "## Engines: FQ (sparse FQ-coded weights) against 8-bit (DSP MACs, dense weights)", "",
              "| | FQ | 8-bit | evidence |", "|---|---|---|---|"]
    fq, i8 = res["engines"]["fq"], res["engines"]["int8"]
    rows = [("lanes x pixels", f"{fq['lanes']} x {fq['pixels']}", f"{i8['lanes']} x {i8['pixels']}", "config"),
            ("lanes on DSP multipliers (rest: FQ shift PEs / int8 LUT MACs)", str(fq.get("dsp_lanes", "-")),
             str(i8.get("dsp_lanes", "-")), "config"),
            ("clock (MHz)", _fmt(fq["clock_mhz"], 0), _fmt(i8["clock_mhz"], 0), "config")]
    for key in ("lut", "ff", "dsp", "bram36"):
        rows.append((key.upper(), _fmt(fq["resources"].get(key)), _fmt(i8["resources"].get(key)),
                     fq["resources"].get("evidence", {}).get(key, "model")))
    rows += [("CIFAR ResNet-18 cycles/image (the models above)", _fmt(fq["cycles"]), _fmt(i8["cycles"]), "csim"),
             ("CIFAR ResNet-18 fps (the models above)", _fmt(fq["fps"]), _fmt(i8["fps"]), fq["evidence"]),
             ("ResNet-18 224x224 fps (embedded trained-weight workload, 74.86 % sparse)",
              _fmt(fq["resources"].get("fps_resnet18")),
              _fmt(i8["resources"].get("fps_resnet18")),
              fq["resources"].get("evidence", {}).get("fps_resnet18", "model")),
             ("bit-exact vs reference", str(fq["bit_exact"]), str(i8["bit_exact"]), "csim"),
             ("emulation wall time (s)", _fmt(fq["emulation_s"], 2), _fmt(i8["emulation_s"], 2), "host")]
    if "top1" in fq:
        rows.append(("top-1 on these images", f"{100 * fq['top1']:.1f} %", f"{100 * i8['top1']:.1f} %", "csim"))
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    if fq["fps"] and i8["fps"]:
        lines += ["", f"FQ / 8-bit throughput on CIFAR ResNet-18: {fq['fps'] / i8['fps']:.2f}x (csim cycles, "
                      f"same board, each engine at its sized configuration: {res.get('engine_origin', 'sized')})."]
    lines += ["", "Evidence: csim = cycle counts of the C-simulated HLS kernel at the configured clock; "
                  "model/yosys = this project's resource model built on Yosys netlists (docs/cost_model.md). "
                  "No number here was measured on a board."]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from ..cost import report as cost_report
    from ..datafiles import check_labels
    from ..errors import InputError
    from ..fqz import read_fqz, size_report
    from ..hw.config import BOARDS
    from ..hw.sized import engine_config
    from ..safeio import check_output_dir, write_files

    if args.board not in BOARDS:
        raise InputError(f"--board {args.board!r}: unknown board; choose one of {', '.join(BOARDS)}")
    # the sized engines (what `fq-hls report` models), unless --config default
    cfgs = {engine: engine_config(args.board, engine, use_sized=args.config == "sized")[0]
            for engine in ("fq", "int8")}
    for p in (args.fq_model, args.int8_model):
        if not Path(p).is_file():
            raise InputError(f"model file not found: {p}")
    if args.output:  # before minutes of work
        check_output_dir(args.output, force=args.force, names=("demo.json", "demo.md"), what="demo folder")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr if args.json else sys.stdout, flush=True)

    res: dict = {"board": args.board, "models": {}, "engines": {},
                 "engine_origin": "sized (fq_hls/data/sized_engines.json)" if args.config == "sized"
                 else "board defaults (fq_hls/hw/config.py)"}
    models = {"fq": args.fq_model, "int8": args.int8_model}
    for k, path in models.items():
        cm = read_fqz(path)
        rep = size_report(cm)
        res["models"][k] = {"file": Path(path).name, "method": cm.method, "sparsity": rep["sparsity"],
                            "size_bytes": rep["size_bytes"], "dense_bytes": rep["dense_bytes"],
                            "compression_ratio": rep["compression_ratio"],
                            "accuracy": cm.meta.get("accuracy")}
        log(f"{Path(path).name}: {cm.method}, {rep['size_bytes']:,} bytes, CR {rep['compression_ratio']:.2f}x, "
            f"sparsity {100 * rep['sparsity']:.2f} %")

    # the test images are read (and checked) before the work: a bad --data fails now, not in minutes
    cm = read_fqz(args.fq_model)
    images, labels = _images(args, cm.input_shape)
    check_labels(labels, cm.num_classes, args.data)
    log(f"the sized FQ and 8-bit engines of {args.board} and their resources (Yosys datapaths, cached) ...")
    graphs, _ = cost_report.network_graphs(args.fq_model, cost_report.DEFAULT_SPARSITY, 0, ["resnet18"],
                                           log=lambda m: None)
    for engine in ("fq", "int8"):
        cfg = cfgs[engine]
        e = cost_report.entry_at(cfg, {n: g[engine] for n, g in graphs.items()})
        log(f"running the {engine} engine on the emulated board (C-simulated kernel behind pynq) ...")
        out = _emulate(models[engine], engine, cfg, images, labels, log)
        out["resources"] = {k: e.get(k) for k in ("lut", "ff", "dsp", "bram36", "uram", "fps_resnet18")}
        out["resources"]["evidence"] = e.get("evidence", {})
        res["engines"][engine] = out
    res["pe"] = cost_report.pe_table(log=lambda m: None)[0]
    text = markdown(res)
    if args.output:
        out_dir = Path(args.output)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_files([(out_dir / "demo.json", json.dumps(res, indent=1, default=str)), (out_dir / "demo.md", text)])
    if args.json:
        print(json.dumps(res, indent=1, default=str))
    else:
        print()
        print(text)
    ok = all(e["bit_exact"] for e in res["engines"].values())
    return 0 if ok else 1
