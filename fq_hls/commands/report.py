"""`fq-hls report`: resources and throughput of the FQ engine against the 8-bit engines, per board, on the
embedded trained-weight workloads (fq_hls.cost.workloads) unless --model names another."""

from __future__ import annotations

import argparse

from . import argtypes

REPORT_FILES = ("report.json", "report.md", "resources.png", "fps.png", "layer_cycles.png", "roofline.png",
                "sweep.png")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..archs import ARCHS
    from ..hw.config import board_names

    parser.add_argument("--board", default="all", choices=[*board_names(), "all"],
                        help="board name or 'all' (default: all)")
    parser.add_argument("--model", metavar="MODEL.fqz", help="model to measure on its network (default: the "
                        "embedded ResNet-18 224 on trained weights at 74.86%% sparsity, and the embedded CIFAR "
                        "model); an FQ model's int8 re-quantization runs on the 8-bit engines")
    parser.add_argument("--hw-reports", metavar="BUILD_DIR", action="append", default=[],
                        help="fq-hls build folder whose parsed Vivado/HLS reports replace the model numbers "
                             "(repeatable)")
    parser.add_argument("--sparsity", type=argtypes.fraction, default=None,
                        help="sparsity of the random-uniform-mask sensitivity row (default 0.9); not a workload")
    parser.add_argument("--no-sweep", action="store_true",
                        help="skip the 50-95%% sparsity sweep (random uniform masks) and its plot")
    parser.add_argument("--network", action="append", default=None, choices=list(ARCHS),
                        help="network(s) to estimate (default: resnet18 and resnet18-cifar; the --model's own "
                             "network is always added); engines are sized on the first")
    parser.add_argument("--json", action="store_true", help="print the JSON report instead of Markdown")
    parser.add_argument("-o", "--output", metavar="DIR", help="write report.md, report.json and PNG plots here")
    parser.add_argument("--no-plots", action="store_true", help="with -o: skip the PNG plots")
    parser.add_argument("--force", action="store_true", help="with -o: replace report files already in DIR")


def run(args: argparse.Namespace) -> int:
    import json
    import os
    import sys
    from pathlib import Path

    from ..cost import report
    from ..errors import InputError
    from ..fqz import read_fqz
    from ..hw.config import board_names
    from ..safeio import check_output_dir

    boards = board_names() if args.board == "all" else [args.board]
    sparsity = report.DEFAULT_SPARSITY if args.sparsity is None else args.sparsity
    unknown = [b for b in boards if b not in board_names()]
    if unknown:
        raise InputError(f"--board {unknown[0]!r}: unknown board; choose one of {', '.join(board_names())} or all")
    # every input and the output folder are checked now: the report takes minutes to compute
    from ..archs import ARCHS

    for net in args.network or []:
        if net not in ARCHS:
            raise InputError(f"--network {net!r}: unknown; choose from {', '.join(ARCHS)}")
    if args.model is not None:
        read_fqz(args.model)
    for d in args.hw_reports:
        if not os.path.isdir(d):
            raise InputError(f"--hw-reports {d}: no such build folder")
    if args.output:
        check_output_dir(args.output, force=args.force, names=REPORT_FILES, what="report folder")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr)

    rep, sized = report.sized_report(boards, args.model, args.hw_reports, sparsity=sparsity,
                                     networks=args.network, log=log,
                                     sweep=None if args.no_sweep else report.workloads.SWEEP_SPARSITIES)
    import platform

    rep["command"] = "fq-hls " + " ".join(sys.argv[1:]) if sys.argv else "fq-hls report"
    rep["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    if rep["synthesis"] != "ok":
        log(f"note: PE synthesis {rep['synthesis']}")
    if sized and report.publishes_sizing(args.model, args.hw_reports, sparsity, 0, args.network):
        _publish(sized, log)
    if args.output:
        files = _write(rep, Path(args.output), not args.no_plots)
        log("wrote " + ", ".join(str(f) for f in files))
    if args.json:
        print(json.dumps(rep, indent=1, default=report._json_default))
    else:
        print(report.markdown(rep))
    return 0


def _publish(sized: dict, log) -> None:
    """Keep the default sizing's configurations where every command reads them (fq_hls.hw.sized)."""
    from ..errors import FQError
    from ..hw import sized as sized_file

    try:
        if sized_file.write_sized(sized):
            log(f"updated {sized_file.SIZED_FILE} (the sized engines)")
    except FQError as e:  # an installed, read-only package: the report itself is still complete
        log(f"note: the sized engines were not saved: {e}")


def _write(rep: dict, out, plots: bool) -> list:
    """The report files, written into a temporary folder beside `out` first and then moved into `out`
    one by one (each move is atomic): a failure while writing leaves no half-written file in `out`."""
    import shutil
    import tempfile
    from pathlib import Path

    from ..cost import report
    from ..errors import InputError

    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".fq_hls_report_", dir=out))
    try:
        files = report.write_report(rep, tmp, plots=plots)
        done = []
        for f in files:
            dest = out / Path(f).name
            try:
                Path(f).replace(dest)
            except OSError as e:
                raise InputError(f"{dest}: cannot write: {e.strerror or e}") from None
            done.append(dest)
        return done
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
