"""The report's workloads: which integer graph each engine runs on each network, and where it came from.

Headline (no --model): the embedded models of fq_hls/data (provenance in fq_hls/data/README.md):

* `resnet18` (224x224): trained layer1-layer4 weights of the CIFAR checkpoint at the FQ paper's 74.86 %
  sparsity, pruned by one DNS threshold rule (per-layer profile in resnet18_dns7486_profile.json); fq5 for the
  FQ engine, int8 of the same mask for the 8-bit engines;
* `resnet18-cifar` (32x32): the embedded CIFAR-10 model (trained, 90 % magnitude-pruned), fq5 and int8.

The dense int8 engine streams every weight, so its cycles do not depend on the int8 model's zeros; the sparse
int8 engine runs the same int8 model on the FQ engine's sparse stream. Random uniform masks
(fq_hls.synthetic) appear only as labelled sensitivity rows and in the sparsity sweep.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

DATA = Path(__file__).resolve().parent.parent / "data"
EMBEDDED = {
    "resnet18": ("resnet18_dns7486_fq5.fqz", "resnet18_dns7486_int8.fqz",
                 "trained layer1-layer4 (CIFAR-10 checkpoint) + random conv1/fc, one DNS threshold rule to "
                 "74.86 % sparsity (fq_hls/data/resnet18_dns7486_profile.json)"),
    "resnet18-cifar": ("resnet18_cifar10_fq5.fqz", "resnet18_cifar10_int8.fqz",
                       "the embedded CIFAR-10 model, trained and magnitude-pruned to 90 %"),
}
SENSITIVITY_SPARSITY = 0.9
SWEEP_SPARSITIES = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


@dataclass
class Workload:
    """The graphs of one network per model kind ("fq": the FQ engine's; "int8": both 8-bit engines') and a
    one-line description of where each came from."""

    network: str
    fq: object  # IntegerGraph
    int8: object  # IntegerGraph
    source: str
    fq_sparsity: float | None  # None: no FQ model (an int8 --model)
    int8_sparsity: float

    def graph(self, engine: str):
        """The graph `engine` runs: the FQ model for shift PEs, the int8 model for both int8 engines."""
        return self.fq if engine == "fq" else self.int8


def _sparsity(cm) -> float:
    return float(cm.sparsity())


def int8_of(cm):
    """An int8 CompressedModel with the weights of `cm` (an FQ model): per-output-channel symmetric int8 of its
    dequantized values (fq_hls.synthetic.quantize_int8); BN, biases and activation ranges unchanged. Weights
    below half an int8 step of their channel become zero (the caller reports the int8 model's sparsity)."""
    from ..synthetic import quantize_int8

    out = copy.deepcopy(cm)
    for node in out.nodes:
        if node.weight is not None:
            node.weight = quantize_int8(node.weight.dequantize())
    out.method = "int8"
    return out


def embedded(network: str) -> Workload:
    """The embedded workload of `network` (EMBEDDED)."""
    from ..fqz import read_fqz
    from ..lower import lower

    fq_name, i8_name, what = EMBEDDED[network]
    fq_cm, i8_cm = read_fqz(DATA / fq_name), read_fqz(DATA / i8_name)
    return Workload(network, lower(fq_cm), lower(i8_cm),
                    f"{what}: {fq_name} ({fq_cm.method}, sparsity {_sparsity(fq_cm):.2%}), {i8_name} "
                    f"({i8_cm.method}, sparsity {_sparsity(i8_cm):.2%}); model files embedded in fq_hls/data",
                    _sparsity(fq_cm), _sparsity(i8_cm))


def from_model(path: str | Path) -> Workload:
    """The workload of a user's .fqz: an FQ model runs on the FQ engine and its int8 re-quantization (int8_of)
    on the 8-bit engines; an int8 model runs on the 8-bit engines and the FQ engine is not compared."""
    from ..fqz import read_fqz
    from ..lower import lower

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such model file")
    cm = read_fqz(p)
    if cm.method == "int8":
        g = lower(cm)
        return Workload(cm.arch, None, g, f"{p} (int8, sparsity {_sparsity(cm):.2%}); no FQ model given",
                        None, _sparsity(cm))
    i8 = int8_of(cm)
    return Workload(cm.arch, lower(cm), lower(i8),
                    f"{p} ({cm.method}, sparsity {_sparsity(cm):.2%}); 8-bit engines: its weights re-quantized "
                    f"to int8 per channel (sparsity {_sparsity(i8):.2%})", _sparsity(cm), _sparsity(i8))


def random_uniform(network: str, sparsity: float, seed: int = 0) -> Workload:
    """Random He weights pruned uniformly to `sparsity` in every layer (a sensitivity row, not a workload)."""
    from ..lower import lower
    from ..synthetic import random_compressed

    return Workload(network, lower(random_compressed(network, "fq5", sparsity, seed=seed)),
                    lower(random_compressed(network, "int8", sparsity, seed=seed)),
                    f"random uniform masks: He weights pruned to {sparsity:.0%} in every layer "
                    f"(fq_hls.synthetic.random_compressed, seed {seed})", sparsity, sparsity)


def report_workloads(model_path: str | None, networks: list[str],
                     log: Callable[[str], None] = print) -> dict[str, Workload]:
    """{network: Workload} for the report: the --model's network from the model, the others embedded."""
    from ..archs import ARCHS

    out: dict[str, Workload] = {}
    user = from_model(model_path) if model_path else None
    nets = list(networks)
    if user is not None and user.network not in nets:
        nets.append(user.network)
    for net in nets:
        if net not in ARCHS:
            raise InputError(f"network {net!r}: unknown; known: {', '.join(ARCHS)}")
        if user is not None and user.network == net:
            out[net] = user
        elif net in EMBEDDED:
            log(f"  {net}: the embedded workload")
            out[net] = embedded(net)
        else:
            log(f"  {net}: no embedded workload; random uniform masks at {SENSITIVITY_SPARSITY:.0%}")
            out[net] = random_uniform(net, SENSITIVITY_SPARSITY)
    return out
