"""`fq-hls report`: resources and throughput of the FQ engine against the 8-bit engine, per board."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--board", default="all", help="board name or 'all' (default: all)")
    parser.add_argument("--model", metavar="MODEL.fqz", help="FQ model to measure (default: a random FQ "
                        "ResNet-18 at 90%% sparsity)")
    parser.add_argument("--hw-reports", metavar="BUILD_DIR", action="append", default=[],
                        help="fq-hls build folder whose parsed Vivado/HLS reports replace the model numbers "
                             "(repeatable)")
    parser.add_argument("--sparsity", type=float, default=None,
                        help="sparsity of the random FQ networks used where no --model applies (default 0.9)")
    parser.add_argument("--network", action="append", default=None, metavar="ARCH",
                        help="network(s) to estimate (default: resnet18 and resnet18-cifar; the --model's own "
                             "network is always added); engines are sized on the first")
    parser.add_argument("--json", action="store_true", help="print the JSON report instead of Markdown")
    parser.add_argument("-o", "--output", metavar="DIR", help="write report.md, report.json and PNG plots here")
    parser.add_argument("--no-plots", action="store_true", help="with -o: skip the PNG plots")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from ..cost import report
    from ..errors import InputError
    from ..hw.config import board_names

    boards = board_names() if args.board == "all" else [args.board]
    sparsity = report.DEFAULT_SPARSITY if args.sparsity is None else args.sparsity
    if not 0.0 <= sparsity < 1.0:
        raise InputError(f"--sparsity {sparsity}: must be in [0, 1)")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr)

    rep = report.build_report(boards, args.model, args.hw_reports, sparsity=sparsity,
                              networks=args.network, log=log)
    if rep["synthesis"] != "ok":
        log(f"note: PE synthesis {rep['synthesis']}")
    if args.output:
        files = report.write_report(rep, args.output, plots=not args.no_plots)
        log("wrote " + ", ".join(str(f) for f in files))
    if args.json:
        print(json.dumps(rep, indent=1, default=report._json_default))
    else:
        print(report.markdown(rep))
    return 0
