"""ResNet-18-sized round trip (11.7 M weights, 90 % sparse): exact, and fast enough for a CLI."""

import time

import numpy as np
import pytest
from _fqz_models import bn, quant_weight

from fq_hls.fqz import read_fqz, size_report, write_fqz
from fq_hls.fqz.equality import model_differences
from fq_hls.model import CompressedModel, Node

SHAPES = (
    [(64, 3, 7, 7)] + [(64, 64, 3, 3)] * 4
    + [(128, 64, 3, 3), (128, 128, 3, 3), (128, 64, 1, 1)] + [(128, 128, 3, 3)] * 2
    + [(256, 128, 3, 3), (256, 256, 3, 3), (256, 128, 1, 1)] + [(256, 256, 3, 3)] * 2
    + [(512, 256, 3, 3), (512, 512, 3, 3), (512, 256, 1, 1)] + [(512, 512, 3, 3)] * 2
)


@pytest.mark.slow
def test_resnet18_sized_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    nodes, prev = [], "input"
    for i, s in enumerate(SHAPES):
        w = quant_weight(rng, "recentralized" if i % 2 else "shift", s, 0.9, per_channel=i % 3 == 0)
        nodes.append(Node(f"conv{i}", "conv", [prev], {"kernel": s[2]}, w, None, bn(rng, s[0]), True))
        prev = f"conv{i}"
    nodes += [Node("pool", "avgpool", [prev], {"global": True}), Node("flat", "flatten", ["pool"], {}),
              Node("fc", "fc", ["flat"], {}, quant_weight(rng, "int8", (1000, 512), 0.9),
                   rng.standard_normal(1000).astype(np.float32))]
    m = CompressedModel("resnet18", 1000, (3, 224, 224), (0.0,) * 3, (1.0,) * 3, "fq5", nodes)
    assert sum(n.weight.codes.size for n in m.weighted()) > 11_000_000
    t0 = time.perf_counter()
    size = write_fqz(m, tmp_path / "r18.fqz", validate=False)  # a layer chain sized like ResNet-18, not a net
    t1 = time.perf_counter()
    back = read_fqz(tmp_path / "r18.fqz", validate=False)
    t2 = time.perf_counter()
    assert model_differences(m, back) == []
    assert t1 - t0 < 15 and t2 - t1 < 15, (t1 - t0, t2 - t1)  # ~0.3 s each on one core
    r = size_report(m)
    assert r["size_bytes"] == size and r["compression_ratio"] > 25  # ~9.2 bits per non-zero + tables
