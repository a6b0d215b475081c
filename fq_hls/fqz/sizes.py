"""Size accounting: every byte of the .fqz file, itemised per layer.

`size_bytes` is the length of the whole file write_fqz writes (header, JSON graph, every layer section with
its framing and CRC, END): that is everything needed to run the model, so the compression ratio counts it
all. Per layer, the section's bytes split into code / index / codebook / param bytes (see LayerBytes).
"""

from __future__ import annotations

from ..model import CompressedModel, dense_fp32_bytes
from .writer import encode_model


def _layer_dense_bytes(node) -> int:
    n = 0
    if node.weight is not None:
        n += 4 * int(node.weight.codes.size)
    if node.bias is not None:
        n += 4 * int(node.bias.size)
    if node.bn is not None:
        n += 16 * int(node.bn.gamma.size)
    return n


def size_report(model: CompressedModel) -> dict:
    """Exact byte accounting of the model's .fqz encoding (see module docstring)."""
    enc = encode_model(model, validate=False)  # sizes are defined for any graph the format holds
    by_name = {n.name: n for n in model.nodes}
    rows = []
    for acct in enc.layers:
        node = by_name[acct.node]
        w = node.weight
        weights = int(w.codes.size) if w is not None else 0
        nnz = w.nnz if w is not None else 0
        dense = _layer_dense_bytes(node)
        rows.append(
            {
                "name": acct.node,
                "op": node.op,
                "mode": w.mode if w is not None else None,
                "bits": int(w.bits) if w is not None else None,
                "shape": list(w.shape) if w is not None else None,
                "coding": acct.coding,
                "weights": weights,
                "nnz": nnz,
                "sparsity": 1.0 - nnz / weights if weights else 0.0,
                "code_bytes": acct.code,
                "index_bytes": acct.index,
                "codebook_bytes": acct.codebook,
                "param_bytes": acct.param,
                "total_bytes": acct.total,
                "bits_per_nonzero": 8.0 * (acct.code + acct.index) / nnz if nnz else None,
                "dense_bytes": dense,
                "cr": dense / acct.total,
            }
        )
    size = len(enc.data)
    dense = dense_fp32_bytes(model)
    return {
        "size_bytes": size,
        "dense_bytes": dense,
        "compression_ratio": dense / size,
        "sparsity": model.sparsity(),
        "weights": sum(r["weights"] for r in rows),
        "nnz": sum(r["nnz"] for r in rows),
        "header_bytes": enc.header_bytes,
        "graph_bytes": enc.graph_bytes,
        "end_bytes": enc.end_bytes,
        "layers_bytes": sum(r["total_bytes"] for r in rows),
        "counts": "whole file: header, JSON graph, codes, indices, codebooks, scales, biases, BN, framing, CRCs",
        "layers": rows,
    }
