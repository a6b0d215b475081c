"""`fq-hls inspect OUT.fqz [--json]`: per-layer modes, bits, sparsity, bytes and compression of a .fqz."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a .fqz model file")
    p.add_argument("--json", action="store_true", help="print the size report and model header as JSON")


def _plain(x: object) -> object:
    """JSON-printable copy of free-form values (numpy scalars/arrays, tuples, non-string keys)."""
    import numpy as np

    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (np.ndarray, np.generic)):
        return x.tolist()
    return x


def _fmt_bytes(n: int) -> str:
    return f"{n / 1e6:.3f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB" if n >= 1e3 else f"{n} B"


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..fqz import VERSION, read_fqz, size_report

    path = Path(args.file)
    model = read_fqz(path)
    report = size_report(model)
    file_bytes = path.stat().st_size
    if args.json:
        out = {
            "file": str(path),
            "format_version": VERSION,
            "file_bytes": file_bytes,
            "arch": model.arch,
            "num_classes": model.num_classes,
            "input_shape": list(model.input_shape),
            "mean": list(model.mean),
            "std": list(model.std),
            "method": model.method,
            "nodes": len(model.nodes),
            "act_max": _plain(model.act_max),
            "meta": _plain(model.meta),
            **report,
        }
        print(json.dumps(out, indent=1, default=str))
        return 0

    print(f"{path}: {model.arch}, {model.method}, {model.num_classes} classes, input {tuple(model.input_shape)}, "
          f".fqz v{VERSION}, {len(model.nodes)} nodes")
    head = (f"{'layer':<24} {'mode':<13} {'bits':>4} {'shape':<18} {'coding':<6} {'sparsity':>8} {'nnz':>9} "
            f"{'codes':>9} {'index':>9} {'book':>6} {'param':>7} {'total':>9} {'b/nz':>6} {'CR':>7}")
    print(head)
    print("-" * len(head))
    for r in report["layers"]:
        bpn = f"{r['bits_per_nonzero']:.2f}" if r["bits_per_nonzero"] is not None else "-"
        shape = "x".join(str(s) for s in r["shape"]) if r["shape"] else "-"
        print(f"{r['name'][:24]:<24} {str(r['mode']):<13} {str(r['bits']):>4} {shape:<18} {r['coding']:<6} "
              f"{100 * r['sparsity']:7.2f}% {r['nnz']:>9} {r['code_bytes']:>9} {r['index_bytes']:>9} "
              f"{r['codebook_bytes']:>6} {r['param_bytes']:>7} {r['total_bytes']:>9} {bpn:>6} {r['cr']:>6.2f}x")
    print("-" * len(head))
    print(f"weights {report['weights']}, non-zeros {report['nnz']}, sparsity {100 * report['sparsity']:.2f}%")
    print(f"file {_fmt_bytes(report['size_bytes'])} = header {report['header_bytes']} B + graph (zlib JSON) "
          f"{report['graph_bytes']} B + layers {report['layers_bytes']} B + end {report['end_bytes']} B")
    print(f"dense fp32 {_fmt_bytes(report['dense_bytes'])} -> compression ratio "
          f"{report['compression_ratio']:.2f}x (every byte of the file counted)")
    if file_bytes != report["size_bytes"]:
        print(f"note: the file on disk is {file_bytes} B; this version encodes the same model in "
              f"{report['size_bytes']} B")
    return 0
