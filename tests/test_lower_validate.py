"""validate() rejects every range violation of fq_hls/ir.py, naming the layer and field; lowering errors
name the node."""

import copy

import numpy as np
import pytest

from fq_hls.errors import InputError
from fq_hls.ir import PoolLayer, TensorInfo
from fq_hls.lower import lower, validate
from fq_hls.model import QuantWeight
from fq_hls.synthetic import random_compressed, random_conv_graph


@pytest.fixture(scope="module")
def base():
    return random_conv_graph(4, 3, 5, 5, 3, 1, 1, 0.3, "fq5", 0, relu=True, residual=True)


def _broken(base, **changes):
    g = copy.deepcopy(base)
    lay = g.layers[0]
    for k, v in changes.items():
        setattr(lay, k, v)
    return g


def test_base_graph_is_valid(base):
    validate(base)


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"mult": np.array([40000, 1, 1])}, "mult"),
        ({"mult": np.array([-32769, 1, 1])}, "mult"),
        ({"shift": np.array([0, 5, 5])}, "shift"),
        ({"shift": np.array([63, 5, 5])}, "shift"),
        ({"bias": np.array([2**31, 0, 0], np.int64)}, "bias"),
        ({"res_mult": np.array([1, 2**15, 1])}, "res_mult"),
        ({"res_shift": np.array([0, -1, 0])}, "res_shift"),
        ({"res_shift": np.array([0, 63, 0])}, "res_shift"),
        ({"res_shift": np.array([0, 45, 0]), "res_mult": np.array([1, 30000, 1])}, "res_shift"),
        ({"mult": np.ones(2, np.int32)}, "mult"),
        ({"residual": "nowhere"}, "input"),
        ({"relu": False}, "relu"),
        ({"out_bits": 16}, "out_bits"),
        ({"weights": np.zeros((3, 4, 1, 1), np.int32)}, "weights"),
        ({"mult": np.array([1.5, 1.0, 1.0])}, "mult"),
    ],
)
def test_conv_violation_names_layer_and_field(base, changes, field):
    with pytest.raises(InputError, match=f"layer 'conv': {field}"):
        validate(_broken(base, **changes))


def test_accumulator_bound(base):
    g = copy.deepcopy(base)
    lay = g.layers[0]
    w = lay.weights.copy()
    w[1] = 0
    w[1, 0, 0, 0] = (2**31) // 255  # sum|w| * 255 alone reaches 2^31
    lay.weights, lay.wformat = w, type(lay.wformat)("int8")
    with pytest.raises(InputError, match="layer 'conv': weights/bias: channel 1"):
        validate(g)


def test_int8_levels_and_weight_fields(base):
    g = copy.deepcopy(base)
    g.layers[0].wexp = g.layers[0].wexp + np.uint8(1)
    with pytest.raises(InputError, match="layer 'conv': wcomp/wsign/wexp"):
        validate(g)
    g = copy.deepcopy(base)
    g.layers[0].wformat.exp_bits = 0
    with pytest.raises(InputError, match="layer 'conv': wexp"):
        validate(g)
    g = copy.deepcopy(base)
    g.layers[0].wsign = None
    with pytest.raises(InputError, match="layer 'conv': wsign"):
        validate(g)
    g = copy.deepcopy(random_conv_graph(2, 2, 3, 3, 1, 1, 0, 0.0, "int8", 1))
    g.layers[0].weights[0, 0, 0, 0] = 200
    with pytest.raises(InputError, match="layer 'conv': weights"):
        validate(g)


def test_pool_violations():
    g = random_conv_graph(2, 2, 4, 4, 3, 1, 1, 0.0, "int8", 2, relu=True)
    g.tensors["p"] = TensorInfo("p", (2, 1, 1), False, 1.0)
    g.layers.append(PoolLayer("avg", "conv", "p", "avg", 4, 1, 0, mult=1 << 15, shift=4))
    with pytest.raises(InputError, match="layer 'avg': mult"):
        validate(g)
    g.layers[-1].mult, g.layers[-1].shift = 100, 0
    with pytest.raises(InputError, match="layer 'avg': shift"):
        validate(g)
    g.layers[-1].shift, g.layers[-1].kernel = 8, 3
    with pytest.raises(InputError, match="layer 'avg': kernel"):
        validate(g)
    g.layers[-1] = PoolLayer("mp", "conv", "p", "max", 2, 2, 2)
    with pytest.raises(InputError, match="layer 'mp': kernel/stride/pad"):
        validate(g)


def test_tensor_written_twice_or_read_before_written(base):
    g = copy.deepcopy(base)
    g.layers.append(copy.deepcopy(g.layers[0]))
    g.layers[-1].name = "again"
    with pytest.raises(InputError, match="layer 'again': output"):
        validate(g)


# ------------------------------------------------------------------------------ lowering errors name the node
@pytest.fixture(scope="module")
def small():
    return random_compressed("smallcnn", "fq5", seed=2)


def test_missing_act_max_names_the_node(small):
    cm = copy.deepcopy(small)
    del cm.act_max["conv2"]
    with pytest.raises(InputError, match="node 'conv2': act_max missing"):
        lower(cm)


def test_float_weights_cannot_be_lowered(small):
    cm = copy.deepcopy(small)
    qw = cm.node("conv1").weight
    cm.node("conv1").weight = QuantWeight("float", 32, qw.codes, qw.codebook, qw.scale)
    with pytest.raises(InputError, match="node 'conv1': weight mode 'float'"):
        lower(cm)


def test_fields_must_reproduce_the_codebook(small):
    cm = copy.deepcopy(small)
    f = cm.node("conv2").weight.fields
    cm.node("conv2").weight.fields.q_shift = f.q_shift + 1
    with pytest.raises(InputError, match="node 'conv2': fields"):
        lower(cm)


def test_network_must_end_in_fc(small):
    cm = copy.deepcopy(small)
    cm.nodes = cm.nodes[:-1]
    with pytest.raises(InputError, match="node 'avgpool': the network must end in an fc"):
        lower(cm)


def test_unfusable_add_names_the_add(small):
    cm = copy.deepcopy(small)
    from fq_hls.model import Node

    # add(conv1, conv1-with-relu): no conv without ReLU that only the add reads
    cm.nodes.insert(2, Node("blk", "add", ["conv1", "conv1"], relu=True))
    with pytest.raises(InputError, match="node 'blk': add cannot be fused"):
        lower(cm)


def test_avgpool_on_a_signed_tensor_names_the_node(small):
    cm = copy.deepcopy(small)
    cm.node("conv2").relu = False
    with pytest.raises(InputError, match="node 'avgpool': global avgpool needs an unsigned"):
        lower(cm)
