"""`fq-hls` command line. Each subcommand lives in fq_hls/commands/<name>.py with add_arguments() and run()."""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import FQError

# name -> (module, one-line help); modules are imported lazily so that `fq-hls run` on a board never
# imports torch.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("fq_hls.commands.demo", "the whole flow on the embedded default model"),
    "prune": ("fq_hls.commands.prune", "float pruning (DNS or gradual magnitude) -> sparse checkpoint"),
    "compress": ("fq_hls.commands.compress", "prune + quantize + encode a model into a .fqz"),
    "evaluate": ("fq_hls.commands.evaluate", "top-1/top-5 of a .fqz or a float checkpoint"),
    "inspect": ("fq_hls.commands.inspect", "per-layer modes, bits, sparsity, bytes of a .fqz"),
    "lower": ("fq_hls.commands.lower", "lower a .fqz to the integer IR and check it against its float model"),
    "csim": ("fq_hls.commands.csim", "C-simulate the HLS engine bit-exact against the reference"),
    "export": ("fq_hls.commands.export", "write the integer (or fake-quantized float) network as ONNX"),
    "hls": ("fq_hls.commands.hls", "write (and run, when vitis_hls is on PATH) the Vitis HLS project"),
    "build": ("fq_hls.commands.build", "HLS + Vivado: build the overlay for a board"),
    "run": ("fq_hls.commands.run", "inference through the PYNQ driver (board or emulated)"),
    "doctor": ("fq_hls.commands.doctor", "versions, root, clocks, register map and a one-image check, for bug reports"),
    "report": ("fq_hls.commands.report", "resources and throughput: FQ against 8-bit designs"),
}


DESCRIPTION = ("Focused quantization of sparse CNNs for Zynq FPGAs: compress a model into a .fqz, lower and check it, "
               "generate and simulate the HLS engine, build the overlay and run it through PYNQ.")


class _Parser(argparse.ArgumentParser):
    """Usage errors in the style of every other error: one line naming the argument and what was expected."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fq-hls", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name == module:  # command not implemented in this build
                sub._name_parser_map.pop(name)
                continue
            raise
        mod.add_arguments(p)
    return parser


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # a usage error (already printed in one line) or --help
        return e.code if isinstance(e.code, int) else 2
    if not getattr(args, "command", None):
        parser.print_help()
        return 1
    mod = importlib.import_module(args._module)
    try:
        return int(mod.run(args) or 0)
    except FQError as e:
        print(f"fq-hls {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (OSError, MemoryError, RecursionError) as e:  # the machine or the system: disk full, no memory, ...
        print(f"fq-hls {args.command}: error: {type(e).__name__}: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
