"""Run an exported ONNX model in onnxruntime against the numpy reference (integer: identical logits; float:
within FLOAT_RTOL of the largest logit)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from ..errors import InputError
from ..ir import IntegerGraph
from ..model import CompressedModel, normalise

# float32 logits may differ by the summation order of each conv (onnxruntime's GEMM against numpy's): allowed
# |onnx - numpy| <= FLOAT_RTOL * max|numpy logits| per image
FLOAT_RTOL = 1e-4


@dataclass
class CheckResult:
    kind: str  # "integer" or "float"
    images: int
    max_abs_diff: float  # over all logits
    rel_diff: float  # max_abs_diff / max |reference logit|
    top1_agree: float  # fraction of images with the same arg-max
    ok: bool
    tolerance: str

    def line(self) -> str:
        verdict = "OK" if self.ok else "MISMATCH"
        return (f"onnxruntime vs numpy reference ({self.kind}, {self.images} images): max |diff| "
                f"{self.max_abs_diff:.6g} ({self.rel_diff:.3g} of the largest logit), top-1 agreement "
                f"{100 * self.top1_agree:.1f} % [{self.tolerance}]: {verdict}")


def _session(model: onnx.ModelProto, threads: int | None):
    try:
        import onnxruntime as ort
    except ImportError:
        raise InputError("onnxruntime is not installed: pip install 'fq-hls[export]'") from None
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _result(kind: str, got: np.ndarray, ref: np.ndarray, ok: bool, tol: str) -> CheckResult:
    diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    top = float(np.abs(ref).max(initial=0))
    mad = float(diff.max(initial=0))
    agree = float(np.mean(got.argmax(axis=1) == ref.argmax(axis=1))) if len(ref) else 1.0
    return CheckResult(kind, len(ref), mad, mad / top if top else mad, agree, ok, tol)


def check_integer(model: onnx.ModelProto, graph: IntegerGraph, images_u8_nhwc: np.ndarray | None = None,
                  threads: int | None = None, x_int: np.ndarray | None = None,
                  inputs: dict[str, np.ndarray] | None = None) -> CheckResult:
    """Logits of `model` in onnxruntime against run_integer on the same quantized images (or on the network
    input `x_int`, with external tensors `inputs`): identical or not."""
    from ..reference import run_integer

    x = graph.quantize_input(images_u8_nhwc) if x_int is None else x_int
    ref = run_integer(graph, x, inputs=inputs)
    feeds = {graph.input: x, **(inputs or {})}
    got = _session(model, threads).run([model.graph.output[0].name], feeds)[0]
    ok = got.dtype == ref.dtype and got.shape == ref.shape and np.array_equal(got, ref)
    return _result("integer", got, ref, bool(ok), f"identical {ref.dtype} logits")


def check_float(model: onnx.ModelProto, cm: CompressedModel, images_u8_nhwc: np.ndarray,
                threads: int | None = None) -> CheckResult:
    """Logits of `model` in onnxruntime against run_float: within FLOAT_RTOL of each image's largest logit."""
    from ..reference.float_model import run_float

    x = normalise(images_u8_nhwc, cm.mean, cm.std)
    ref = run_float(cm, x)
    got = _session(model, threads).run([model.graph.output[0].name], {model.graph.input[0].name: x})[0]
    bound = FLOAT_RTOL * np.abs(ref).max(axis=1, keepdims=True)
    ok = got.shape == ref.shape and bool(np.all(np.abs(got.astype(np.float64) - ref) <= bound))
    return _result("float", got, ref, ok, f"|diff| <= {FLOAT_RTOL:g} x max|logit| per image")
