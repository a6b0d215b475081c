"""`--arch FILE.py:builder`: a user's module traced with torch.fx into the graph, and the one-line refusals."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch
from _badinput import cli

from fq_hls.compress.fx_import import arch_name, is_module_spec, load_user_model, trace_plan
from fq_hls.errors import InputError

# a small CNN written the way users write them: functional relu, a residual add, x.view flatten, a BN'd head
USER_NET = textwrap.dedent('''
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.a = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn_a = nn.BatchNorm2d(c)
            self.b = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn_b = nn.BatchNorm2d(c)

        def forward(self, x):
            y = F.relu(self.bn_a(self.a(x)))
            y = self.bn_b(self.b(y))
            y += x
            return torch.relu(y)

    class Net(nn.Module):
        input_shape = (1, 12, 12)
        mean = (100.0,)
        std = (50.0,)

        def __init__(self, classes=5, groups=1, dilation=1):
            super().__init__()
            self.stem = nn.Conv2d(1, 8, 3, padding=dilation, dilation=dilation, groups=1, bias=True)
            self.act = nn.ReLU()
            self.pool = nn.MaxPool2d(2)
            self.block = Block(8)
            self.mid = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=groups, bias=False)
            self.bn_mid = nn.BatchNorm2d(8)
            self.gap = nn.AvgPool2d(3)
            self.drop = nn.Dropout(0.1)
            self.head = nn.Linear(8, classes)

        def forward(self, x):
            x = self.pool(self.act(self.stem(x)))
            x = self.block(x)
            x = F.relu(self.bn_mid(self.mid(x)))
            x = self.gap(x)
            x = x.view(x.size(0), -1)
            return self.head(self.drop(x))

    def build():
        return Net()

    def depthwise():
        return Net(groups=8)

    def dilated():
        return Net(dilation=2)

    class Sig(Net):
        def forward(self, x):
            return self.head(torch.sigmoid(self.gap(self.mid(self.pool(self.stem(x))))).flatten(1))

    def sigmoid():
        return Sig()

    def not_a_module():
        return 42
''')


@pytest.fixture(scope="module")
def user_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("user")
    (d / "mynet.py").write_text(USER_NET)
    return d / "mynet.py"


def _spec(path, builder="build"):
    return f"{path}:{builder}"


def test_spec_parsing(user_file):
    assert is_module_spec(_spec(user_file)) and not is_module_spec("resnet50")
    assert arch_name(_spec(user_file)) == "mynet.build"


def test_plan_fuses_bn_relu_and_maps_the_vocabulary(user_file):
    model, info = load_user_model(_spec(user_file))
    assert info["input_shape"] == (1, 12, 12) and info["mean"] == (100.0,) and info["num_classes"] == 5
    plan = {e["name"]: e for e in model.fx_plan}
    ops = [(e["name"], e["op"]) for e in model.fx_plan]
    assert ops == [("stem", "conv"), ("pool", "maxpool"), ("block.a", "conv"), ("block.b", "conv"),
                   ("add", "add"), ("mid", "conv"), ("gap", "avgpool"), ("head", "fc")]
    assert plan["stem"]["relu"] and plan["stem"]["bn"] is None
    assert plan["block.a"]["bn"] == "block.bn_a" and plan["block.a"]["relu"]
    assert plan["block.b"]["bn"] == "block.bn_b" and not plan["block.b"]["relu"]
    assert plan["add"]["inputs"] == ["block.b", "pool"] and plan["add"]["relu"]
    assert plan["gap"]["attrs"] == {"global": True}
    assert plan["head"]["inputs"] == ["gap"]  # the view-flatten of a 1x1 map is what fc reads anyway


@pytest.mark.parametrize("builder,fragments", [
    ("depthwise", ["node 'mid'", "call_module mid", "groups=8", "depthwise"]),
    ("dilated", ["node 'stem'", "call_module stem", "dilation=(2, 2)"]),
    ("sigmoid", ["node 'sigmoid'", "call_function sigmoid", "not in the supported set"]),
])
def test_unsupported_ops_stop_in_one_line(user_file, builder, fragments):
    with pytest.raises(InputError) as e:
        load_user_model(_spec(user_file, builder))
    msg = str(e.value)
    assert "\n" not in msg and str(user_file) in msg
    for f in fragments:
        assert f in msg, (f, msg)


def test_windowed_avg_pool_and_standalone_relu_are_refused():
    class Win(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c = torch.nn.Conv2d(1, 2, 3)
            self.p = torch.nn.AvgPool2d(2)
            self.fc = torch.nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(torch.flatten(self.p(torch.relu(self.c(x))), 1))

    with pytest.raises(InputError, match=r"node 'p' \(call_module p\).*only global average pooling"):
        trace_plan(Win(), (1, 6, 6))

    class ReluOnInput(Win):
        def forward(self, x):
            return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(self.c(torch.relu(x)), 2), 1))

    with pytest.raises(InputError, match=r"node 'relu' \(call_function relu\): ReLU must directly follow a layer"):
        trace_plan(ReluOnInput(), (1, 6, 6))


def test_bad_builders_are_one_line(user_file, tmp_path):
    with pytest.raises(InputError, match="returned int"):
        load_user_model(_spec(user_file, "not_a_module"))
    with pytest.raises(InputError, match="defines no function 'nope'"):
        load_user_model(_spec(user_file, "nope"))
    with pytest.raises(InputError, match="no such file"):
        load_user_model(_spec(tmp_path / "missing.py"))
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(InputError, match=r"importing .*broken\.py failed \(RuntimeError: boom\)"):
        load_user_model(_spec(broken, "build"))


def test_compress_a_user_module_end_to_end(user_file, tmp_path, capsys):
    """compress -> .fqz -> lower -> numpy reference against the float graph of the user's own module."""
    from fq_hls.compress.graph import to_torch
    from fq_hls.fqz import read_fqz
    from fq_hls.lower import lower
    from fq_hls.reference import run_integer

    model, _ = load_user_model(_spec(user_file))
    torch.manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    weights = tmp_path / "w.pt"
    torch.save(model.state_dict(), weights)
    out = tmp_path / "m.fqz"
    rc, stdout, err = cli(["compress", "--arch", _spec(user_file), "--weights", weights, "--method", "fq5",
                           "--sparsity", "0.5", "--no-progress", "-o", out], capsys)
    assert rc == 0, err
    cm = read_fqz(out)
    assert cm.arch == "mynet.build" and cm.num_classes == 5 and tuple(cm.input_shape) == (1, 12, 12)
    assert [n.name for n in cm.nodes][:3] == ["stem", "pool", "block.a"]
    graph = lower(cm)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(4, 12, 12, 1), dtype=np.uint8)
    x = (images.astype(np.float32) - 100.0) / 50.0
    x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        ref_float = to_torch(cm)(x).numpy()
    logits = run_integer(graph, graph.quantize_input(images))
    assert logits.shape == (4, 5)
    # the integer network follows its own fake-quantized float graph (8-bit activations): same ranking
    assert np.corrcoef(logits.astype(np.float64).ravel(), ref_float.ravel())[0, 1] > 0.9


def test_cli_refuses_unsupported_module(user_file, tmp_path, capsys):
    weights = tmp_path / "w.pt"
    torch.save({}, weights)
    rc, _, err = cli(["compress", "--arch", _spec(user_file, "depthwise"), "--weights", weights,
                      "--method", "fq5", "-o", tmp_path / "o.fqz"], capsys)
    errors = [line for line in err.splitlines() if "error" in line]  # a no-data warning may come first
    assert rc == 2 and "Traceback" not in err and len(errors) == 1
    assert errors[0].startswith("fq-hls compress: error: --arch ") and "node 'mid'" in errors[0]
    assert "groups=8" in errors[0] and not (tmp_path / "o.fqz").exists()


def test_a_torchvision_style_resnet_traces_like_the_built_in_graph():
    """The fx path on a torchvision-layout ResNet (here the project's own, which has torchvision's forward)
    gives the same layers, fusions and residual adds as the built-in graph."""
    from fq_hls.compress.graph import _Builder, _from_family
    from fq_hls.compress.models import build_model

    model = build_model("resnet18-cifar", 10)
    plan = trace_plan(model, (3, 32, 32))
    b = _Builder(model, {})
    b.qweight = lambda module_name, node_name: None  # structure only
    _from_family(b, model, {"family": "resnet"})
    fx_convs = sorted((e["module"], e["bn"], e["relu"]) for e in plan if e["op"] == "conv")
    built = sorted((n.name if not n.name.endswith("downsample") else n.name + ".0", n.bn is not None, n.relu)
                   for n in b.nodes if n.op == "conv")
    assert [(m, bn is not None, r) for m, bn, r in fx_convs] == built
    assert [e["op"] for e in plan].count("add") == 8 and all(e["relu"] for e in plan if e["op"] == "add")
    assert [e["op"] for e in plan][-2:] == ["avgpool", "fc"]


def test_relu_after_max_pool_moves_onto_the_conv():
    """conv-bn-pool-relu (a common ordering): max commutes with ReLU, so the ReLU fuses into the conv and the
    pool reads an unsigned tensor."""
    class PoolRelu(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c = torch.nn.Conv2d(1, 4, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(4)
            self.p = torch.nn.MaxPool2d(2)
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, x):
            y = torch.relu(self.p(self.bn(self.c(x))))
            return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(y, 1), 1))

    plan = {e["name"]: e for e in trace_plan(PoolRelu(), (1, 8, 8))}
    assert plan["c"]["relu"] and plan["c"]["bn"] == "bn" and not plan["p"]["relu"]


MEAN_HEADS = {"method": lambda x: x.mean((2, 3)),
              "function": lambda x: torch.mean(x, dim=[-2, -1], keepdim=True).flatten(1)}


@pytest.mark.parametrize("head", sorted(MEAN_HEADS))
def test_mean_over_the_map_is_global_average_pooling(head):
    class MeanHead(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c = torch.nn.Conv2d(1, 4, 3)
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, x):
            x = torch.relu(self.c(x))
            return self.fc(MEAN_HEADS[head](x))

    plan = trace_plan(MeanHead(), (1, 6, 6))
    assert [e["op"] for e in plan] == ["conv", "avgpool", "fc"] and plan[1]["attrs"] == {"global": True}
