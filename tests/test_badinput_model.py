"""Semantically wrong models behind valid CRCs: every one is refused in one line naming the file and the field
(fq_hls.model_validation), or it is a model every stage runs. Seeded fuzzing of the graph JSON and of the
layer payloads, the cases the bad-input review found, and a property test: a model that passes validation
runs bit-exact through the reference and the C-simulation, or is refused before running."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from _badinput import graph_of, leaves, no_hang, sections, with_graph
from runtime_models import _bn, _weight, tiny_model

from fq_hls.errors import FQError, InvalidModelError, ModelFileError
from fq_hls.fqz import decode_model, encode_model
from fq_hls.fqz.layout import HEADER_BYTES
from fq_hls.model import Node
from fq_hls.model_validation import validate_model

SEED = 4321
BASE = tiny_model("fq", size=8)
DATA = encode_model(BASE).data
NAME = "fuzz.fqz"


def _read(blob: bytes):
    """The decoded model, or None for a one-line ModelFileError naming the file; anything else fails."""
    try:
        with no_hang():
            return decode_model(blob, NAME, _strict=True)
    except ModelFileError as e:
        msg = str(e)
        assert msg.startswith(NAME + ": ") and "\n" not in msg, msg
        return None


def _runs_or_is_refused(cm) -> str:
    """An accepted model must lower and run (reference and float model) or be refused with an FQError."""
    from fq_hls.lower import lower
    from fq_hls.model import normalise
    from fq_hls.reference import run_float, run_integer
    from fq_hls.synthetic import random_images

    validate_model(cm, NAME)  # what the reader accepted is valid
    images = random_images(tuple(cm.input_shape), 2, seed=1)
    logits = run_float(cm, normalise(images, cm.mean, cm.std))
    assert logits.shape == (2, cm.num_classes) and np.isfinite(logits).all()
    try:
        graph = lower(cm)
    except FQError as e:
        assert "\n" not in str(e)
        return "refused by lower"
    out = run_integer(graph, graph.quantize_input(images))
    assert out.shape == (2, cm.num_classes)
    return "ran"


# ------------------------------------------------------------------------------- the review's cases


def _edit(fn):
    g = graph_of(DATA)
    fn(g)
    return with_graph(DATA, g)


def _node(g, name):
    return next(d for d in g["nodes"] if d["name"] == name)


CASES = {
    "stride 0": (lambda g: _node(g, "conv1")["attrs"].update(stride=0), "node 'conv1': attrs 'stride'"),
    "stride -2": (lambda g: _node(g, "conv2")["attrs"].update(stride=-2), "attrs 'stride'"),
    "stride 10^12": (lambda g: _node(g, "conv2")["attrs"].update(stride=10**12), "attrs 'stride'"),
    "stride float": (lambda g: _node(g, "conv2")["attrs"].update(stride=1.5), "attrs 'stride'"),
    "stride list": (lambda g: _node(g, "conv2")["attrs"].update(stride=[1, 2]), "attrs 'stride'"),
    "padding -1": (lambda g: _node(g, "conv1")["attrs"].update(padding=-1), "attrs 'padding'"),
    "padding 3 of k3": (lambda g: _node(g, "conv1")["attrs"].update(padding=3), "attrs 'padding'"),
    "kernel lies": (lambda g: _node(g, "conv1")["attrs"].update(kernel=5), "attrs 'kernel' is 5"),
    "groups 2": (lambda g: _node(g, "conv1")["attrs"].update(groups=2), "attrs 'groups'"),
    "unknown attr": (lambda g: _node(g, "conv1")["attrs"].update(foo=1), "attrs 'foo'"),
    "attrs null": (lambda g: _node(g, "conv1").update(attrs=None), "node 'conv1': attrs: expected a dict"),
    "attrs list": (lambda g: _node(g, "pool1").update(attrs=[2, 2]), "attrs: expected a dict"),
    "pool kernel 0": (lambda g: _node(g, "pool1")["attrs"].update(kernel=0), "node 'pool1': attrs 'kernel'"),
    "pool no kernel": (lambda g: _node(g, "pool1")["attrs"].pop("kernel"), "attrs 'kernel' missing"),
    "pool pad > k/2": (lambda g: _node(g, "pool1")["attrs"].update(padding=2), "attrs 'padding'"),
    "pool too big": (lambda g: _node(g, "pool1")["attrs"].update(kernel=99), "does not fit"),
    "avgpool local": (lambda g: _node(g, "gap").update(attrs={"global": False}), "attrs 'global'"),
    "input 100000^2": (lambda g: g.update(input_shape=[3, 100000, 100000]), "input_shape: 3x100000x100000"),
    "input 0": (lambda g: g.update(input_shape=[3, 0, 8]), "input_shape"),
    "input channels": (lambda g: g.update(input_shape=[4, 8, 8]), "mean: expected 4 numbers"),
    "mean 2 entries": (lambda g: g.update(mean=[1.0, 2.0]), "mean: expected 3 numbers"),
    "mean inf": (lambda g: g.update(mean=[1.0, float("inf"), 2.0]), "mean: expected finite"),
    "mean 1e39": (lambda g: g.update(mean=[1.0, 1e39, 2.0]), "mean: expected finite float32"),
    "std 0": (lambda g: g.update(std=[63.0, 0.0, 66.0]), "std: expected numbers > 0"),
    "std negative": (lambda g: g.update(std=[63.0, -1.0, 66.0]), "std: expected numbers > 0"),
    "std nan": (lambda g: g.update(std=[float("nan")] * 3), "std: expected finite"),
    "std 1e-50": (lambda g: g.update(std=[1e-50] * 3), "std: expected numbers > 0"),
    "37 classes over 10": (lambda g: g.update(num_classes=37), "num_classes: is 37 but the output node 'fc' gives 10"),
    "0 classes": (lambda g: g.update(num_classes=0), "num_classes"),
    "act_max nan": (lambda g: g["act_max"].update(conv1=float("nan")), "act_max['conv1']"),
    "act_max negative": (lambda g: g["act_max"].update(conv1=-2.0), "act_max['conv1']"),
    "act_max string": (lambda g: g["act_max"].update(conv1="big"), "act_max['conv1']"),
    "act_max stranger": (lambda g: g["act_max"].update(nobody=1.0), "act_max: names 'nobody'"),
    "act_max a list": (lambda g: g.update(act_max=[1, 2]), "act_max: expected a dict"),
    "name with quote": (lambda g: _node(g, "fc").update(name='f"; system("x")'), "node #7: name"),
    "add of one": (lambda g: _node(g, "add1").update(inputs=["conv3"]), "node 'add1': inputs"),
    "add shapes": (lambda g: _node(g, "add1").update(inputs=["conv3", "input"]), "differ in shape"),
    "fc on the map": (lambda g: _node(g, "fc").update(inputs=["conv1"]), "node 'fc': weight has 8 inputs"),
    "bits 0": (lambda g: _node(g, "conv1")["weight"].update(bits=0), "weight bits"),
    "shift with means": (lambda g: _node(g, "conv1")["weight"]["fields"].update(mu_sign=[-1, 1]), "conv1"),
    "arch with newline": (lambda g: g.update(arch="tiny\nEVIL"), "arch"),
    "meta a list": (lambda g: g.update(meta=[1]), "meta"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_review_cases_are_refused(case, tmp_path):
    from fq_hls.fqz import read_fqz

    edit, fragment = CASES[case]
    path = tmp_path / "m.fqz"
    path.write_bytes(_edit(edit))
    with no_hang(), pytest.raises(ModelFileError) as e:
        read_fqz(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg and fragment in msg, msg


def _payload_case(edit) -> bytes:
    """An in-memory edit the graph JSON cannot express, written without validation (as a hostile writer
    would), then read."""
    cm = copy.deepcopy(BASE)
    edit(cm)
    return encode_model(cm, validate=False).data


PAYLOAD_CASES = {
    "scale nan": (lambda m: m.node("conv1").weight.scale.__setitem__(0, np.nan), "weight scale[0] is nan"),
    "scale inf": (lambda m: m.node("fc").weight.scale.__setitem__(3, np.inf), "node 'fc': weight scale[3]"),
    "bias inf": (lambda m: m.node("fc").bias.__setitem__(1, -np.inf), "bias[1]"),
    "bn var negative": (lambda m: m.node("conv2").bn.var.__setitem__(2, -1.0), "bn.var[2]"),
    "bn var 0, eps 0": (lambda m: (m.node("conv2").bn.var.__setitem__(0, 0.0),
                                   setattr(m.node("conv2").bn, "eps", 0.0)), "bn.var[0]"),
    "bn eps negative": (lambda m: setattr(m.node("conv2").bn, "eps", -1e-5), "bn.eps"),
    "bn gamma nan": (lambda m: m.node("conv3").bn.gamma.__setitem__(0, np.nan), "bn.gamma[0]"),
    "int8 level 200": (lambda m: setattr(m.node("fc"), "weight", _int8_level(m.node("fc").weight, 200)),
                       "int8 weight"),
}


def _int8_level(w, level):
    w = _weight(np.random.default_rng(0), w.codes.shape, "int8")
    w.codebook[5] = level
    return w


@pytest.mark.parametrize("case", list(PAYLOAD_CASES))
def test_payload_cases_are_refused(case):
    edit, fragment = PAYLOAD_CASES[case]
    assert _read(_payload_case(edit)) is None
    with pytest.raises(InvalidModelError, match=None) as e:
        decode_model(_payload_case(edit), NAME)
    assert fragment in str(e.value), str(e.value)


def test_in_memory_models_are_checked_by_lower_and_the_writer():
    from fq_hls.errors import InputError
    from fq_hls.lower import lower

    cm = copy.deepcopy(BASE)
    cm.node("conv2").attrs["stride"] = 0
    for consumer in (lower, encode_model):
        with pytest.raises(InvalidModelError, match="node 'conv2': attrs 'stride'") as e:
            consumer(cm)
        assert isinstance(e.value, InputError) and isinstance(e.value, ModelFileError)


# ------------------------------------------------------------------------------------ seeded fuzzing

HOSTILE = [0, -1, 1, 2, 3, 7, 255, 10**9, -(10**9), 2**63, 10**400, 0.5, -0.0, 1e308, math.nan, math.inf, -math.inf,
           None, True, False, "x", "", [], {}, [1, 2], [0, 0, 0], [3, 8, 8], {"a": 1}]


def test_graph_json_mutations():
    """300 seeded edits of the graph JSON (one to three values replaced by hostile ones, or removed),
    valid CRCs: refused in one line, or a model that runs."""
    rng = np.random.default_rng(SEED)
    g0 = graph_of(DATA)
    paths = [p for p in leaves(g0) if p and p[0] not in ("meta", "format")]
    counts: dict[str, int] = {}
    for _ in range(300):
        g = copy.deepcopy(g0)
        for _ in range(int(rng.integers(1, 4))):
            path = paths[int(rng.integers(0, len(paths)))]
            parent = g
            try:
                for k in path[:-1]:
                    parent = parent[k]
                if isinstance(parent, dict) and rng.random() < 0.15:
                    parent.pop(path[-1], None)
                else:
                    parent[path[-1]] = copy.deepcopy(HOSTILE[int(rng.integers(0, len(HOSTILE)))])
            except (KeyError, IndexError, TypeError):
                continue  # an earlier edit removed this path
        try:
            blob = with_graph(DATA, g)
        except ValueError:  # 10**400 and friends are not JSON: json.dumps refuses them
            continue
        cm = _read(blob)
        outcome = "refused by the reader" if cm is None else _runs_or_is_refused(cm)
        counts[outcome] = counts.get(outcome, 0) + 1
    assert sum(counts.values()) >= 250 and counts["refused by the reader"] >= 200, counts


def test_layer_payload_mutations():
    """200 seeded byte edits inside the LAYR payloads with recomputed CRCs: refused in one line, or decoded
    to a model that validates and runs (a change into another valid model cannot be detected without a
    signature; that is all that may pass)."""
    from _badinput import join

    rng = np.random.default_rng(SEED + 1)
    secs = sections(DATA)
    layers = [i for i, (t, _) in enumerate(secs) if t == b"LAYR"]
    counts: dict[str, int] = {}
    for _ in range(200):
        s = [list(x) for x in secs]
        i = layers[int(rng.integers(0, len(layers)))]
        p = bytearray(s[i][1])
        for _ in range(int(rng.integers(1, 4))):
            if rng.random() < 0.8:
                p[int(rng.integers(0, len(p)))] ^= 1 << int(rng.integers(0, 8))
            else:
                at = int(rng.integers(0, len(p)))
                del p[at : at + int(rng.integers(1, 4))]
        s[i][1] = bytes(p)
        cm = _read(join(DATA[:HEADER_BYTES], s))
        outcome = "refused by the reader" if cm is None else _runs_or_is_refused(cm)
        counts[outcome] = counts.get(outcome, 0) + 1
    assert sum(counts.values()) == 200 and counts["refused by the reader"] >= 100, counts


# --------------------------------------------------------------- property: valid => bit-exact or refused


def random_net(rng: np.random.Generator, engine: str):
    """A random small network (conv, residual pairs, max pools, avgpool, fc) with random geometry, modes,
    batch norm and act_max, some of it beyond what lowering or the engine supports."""
    from fq_hls.model import CompressedModel, normalise
    from fq_hls.reference.float_model import calibrate_numpy
    from fq_hls.synthetic import random_images

    modes = ["int8"] if engine == "int8" else ["shift", "recentralized"]
    c, h = int(rng.integers(1, 4)), int(rng.integers(4, 13))
    nodes, prev, ch = [], "input", c

    def conv(name, src, cin, cout, k, s, p, relu):
        w = _weight(rng, (cout, cin, k, k), modes[int(rng.integers(0, len(modes)))], float(rng.uniform(0.2, 0.9)))
        nodes.append(Node(name, "conv", [src], {"kernel": k, "stride": s, "padding": p}, w, bn=_bn(rng, cout),
                          relu=relu))

    for b in range(int(rng.integers(1, 4))):
        kind = rng.choice(["conv", "res", "pool"])
        if kind == "conv" or prev == "input":
            k = int(rng.choice([1, 3, 5]))
            cout = int(rng.integers(2, 13))
            conv(f"c{b}", prev, ch, cout, k, int(rng.choice([1, 1, 2, 3])), int(rng.integers(0, k)), True)
            prev, ch = f"c{b}", cout
        elif kind == "res":
            conv(f"r{b}a", prev, ch, ch, 3, 1, 1, True)
            conv(f"r{b}b", f"r{b}a", ch, ch, 3, 1, 1, bool(rng.random() < 0.1))
            nodes.append(Node(f"r{b}", "add", [f"r{b}b", prev], relu=True))
            prev = f"r{b}"
        else:
            k = int(rng.choice([2, 3]))
            nodes.append(Node(f"p{b}", "maxpool", [prev], {"kernel": k, "stride": int(rng.choice([1, 2])),
                                                            "padding": int(rng.integers(0, k // 2 + 1))}))
            prev = f"p{b}"
    classes = int(rng.integers(2, 11))
    nodes.append(Node("gap", "avgpool", [prev], {"global": True}))
    nodes.append(Node("fc", "fc", ["gap"], {}, _weight(rng, (classes, ch), modes[0], 0.3),
                      bias=rng.uniform(-0.1, 0.1, classes).astype(np.float32)))
    cm = CompressedModel("random", classes, (c, h, h), tuple(rng.uniform(0, 255, c)), tuple(rng.uniform(20, 80, c)),
                         "fq5" if engine == "fq" else "int8", nodes)
    try:
        validate_model(cm)
    except InvalidModelError:
        return cm  # refused geometry (an empty map): handed on as is
    calibrate_numpy(cm, normalise(random_images((c, h, h), 4, seed=int(rng.integers(0, 1 << 30))), cm.mean, cm.std))
    for name in list(cm.act_max):
        if rng.random() < 0.1:
            cm.act_max[name] *= float(10 ** rng.uniform(-4, 3))  # ranges that may not requantise
    return cm


@pytest.mark.csim
@pytest.mark.parametrize("engine", ["fq", "int8"])
def test_valid_models_run_bit_exact_or_are_refused(engine):
    from _csim_helpers import need_csim

    need_csim()
    from fq_hls.csim import load_kernel
    from fq_hls.hw.config import hardware_config
    from fq_hls.hw.program import build_program
    from fq_hls.lower import lower
    from fq_hls.reference import run_integer
    from fq_hls.synthetic import random_images

    cfg = hardware_config("pynq-z2", engine, lanes=4, pixels=4, max_in_ch=32, max_width=16, max_out_ch=32,
                          max_nnz_per_lane=512)  # the engine of tests/test_runtime_csim.py: one g++ build
    kernel = load_kernel(cfg)
    rng = np.random.default_rng(SEED + (engine == "int8"))
    counts: dict[str, int] = {}
    for _ in range(40):
        cm = random_net(rng, engine)
        try:
            validate_model(cm)
            cm = decode_model(encode_model(cm).data, "random.fqz", _strict=True)  # through the file format
            graph = lower(cm)
            prog = build_program(graph, cfg)
        except FQError as e:
            assert "\n" not in str(e), str(e)
            counts["refused before running"] = counts.get("refused before running", 0) + 1
            continue
        x = graph.quantize_input(random_images(tuple(cm.input_shape), 2, seed=int(rng.integers(0, 1 << 30))))
        ref = run_integer(graph, x)
        for i in range(len(x)):
            logits, _ = kernel.run_program(prog, x[i])
            assert np.array_equal(logits, ref[i]), (cm.nodes, i)
        counts["bit-exact"] = counts.get("bit-exact", 0) + 1
    assert counts.get("bit-exact", 0) >= 10, counts
