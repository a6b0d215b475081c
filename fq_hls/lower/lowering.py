"""CompressedModel -> IntegerGraph (the arithmetic is defined in fq_hls/ir.py; docs/integer_inference.md).

Scales: the network input is int8 with scale act_max["input"] / 127; a ReLU output is uint8 with scale
act_max / 255, any other 8-bit tensor int8 with act_max / 127; maxpool keeps its input's type and scale.
A conv computes real = A[o] * acc + B[o] with A = a[o] * s_w[o] * s_x and B = a[o] * conv_bias + c[o]
(BN folded as a*x + c). In output units y = M[o] * (acc + bias[o]) with M = A / s_y and bias = round(B / A)
in accumulator units; M (and the residual ratio R = s_res / s_y) become int16 multipliers at one
per-channel shift (fq_hls.lower.requant).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..ir import ACC_BITS, ConvLayer, IntegerGraph, PoolLayer, TensorInfo
from ..model import CompressedModel, Node
from ..model_validation import validate_model
from ..node_geometry import conv_geometry, out_size, pool_geometry
from .requant import fixed_point
from .validate import validate
from .weights import lower_weights

ACC_LIMIT = (1 << (ACC_BITS - 1)) - 1
CONST_FRAC_BITS = 10  # fraction bits of the bias of a channel whose output does not depend on its input


def _act_scale(cm: CompressedModel, name: str, relu: bool) -> float:
    if name not in cm.act_max:
        raise InputError(f"node {name!r}: act_max missing (calibrate the model before lowering)")
    v = float(cm.act_max[name])
    if not np.isfinite(v) or v <= 0:
        raise InputError(f"node {name!r}: act_max must be a positive number, got {v}")
    return v / (255.0 if relu else 127.0)


def _int32(node: Node, w: np.ndarray) -> np.ndarray:
    """The int32 weights of the IR; InputError rather than a silent wrap for levels beyond 32 bits."""
    if w.size and int(np.abs(w).max()) > ACC_LIMIT:
        raise InputError(f"node {node.name!r}: integer weight levels up to {int(np.abs(w).max())} do not fit 32 bits")
    return w.astype(np.int32)


def _fusion_plan(cm: CompressedModel) -> dict[str, tuple[Node, str]]:
    """conv name -> (add node, residual tensor): the conv producing an add input absorbs the add."""
    producer = {n.name: n for n in cm.nodes}
    uses: dict[str, int] = {}
    for n in cm.nodes:
        for i in n.inputs:
            uses[i] = uses.get(i, 0) + 1
    plan: dict[str, tuple[Node, str]] = {}
    for n in cm.nodes:
        if n.op != "add":
            continue
        if len(n.inputs) != 2:
            raise InputError(f"node {n.name!r}: add needs exactly two inputs, got {len(n.inputs)}")
        for main, res in ((0, 1), (1, 0)):
            p = producer.get(n.inputs[main])
            if (
                p is not None
                and p.op == "conv"
                and not p.relu
                and uses.get(p.name, 0) == 1
                and p.name not in plan
                and n.inputs[res] != p.name
            ):
                plan[p.name] = (n, n.inputs[res])
                break
        else:
            raise InputError(
                f"node {n.name!r}: add cannot be fused: neither input is a conv without ReLU used only by the add"
            )
    return plan


def _lower_weighted(
    cm: CompressedModel,
    node: Node,
    x: TensorInfo,
    out_name: str,
    relu: bool,
    residual: TensorInfo | None,
    final: bool,
    notes: list[str],
) -> tuple[ConvLayer, TensorInfo]:
    lw = lower_weights(node.name, node.weight)
    w = lw.weights
    out_ch, in_ch = w.shape[:2]
    if node.op == "fc":
        if x.shape[1:] != (1, 1) or x.shape[0] != in_ch:
            raise InputError(f"node {node.name!r}: fc needs a ({in_ch}, 1, 1) input, {x.name!r} is {x.shape}")
        k, s, p = 1, 1, 0
    else:
        k, s, p = conv_geometry(node)
        if x.shape[0] != in_ch:
            raise InputError(
                f"node {node.name!r}: weight has {in_ch} input channels, {x.name!r} has {x.shape[0]}"
            )
    oshape = (out_ch, out_size(x.shape[1], k, s, p), out_size(x.shape[2], k, s, p))
    if min(oshape[1:]) < 1:
        raise InputError(f"node {node.name!r}: output map would be empty for input {x.shape}")
    if node.bn is not None:
        a, c = node.bn.affine()
    else:
        a, c = np.ones(out_ch), np.zeros(out_ch)
    cbias = np.zeros(out_ch) if node.bias is None else np.asarray(node.bias, np.float64).ravel()
    if a.shape != (out_ch,) or c.shape != (out_ch,) or cbias.shape != (out_ch,):
        raise InputError(f"node {node.name!r}: bias/batch-norm must have {out_ch} channels")
    A = a * lw.scale * x.scale  # real = A * acc + B
    B = a * cbias + c
    wsum = np.abs(w).reshape(out_ch, -1).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        bias_f = np.where(A != 0, B / np.where(A != 0, A, 1), np.inf)
    room = ACC_LIMIT - wsum * 255  # what the bias may use of the accumulator
    kind = "fc" if node.op == "fc" else "conv"
    common = dict(
        name=node.name, input=x.name, output=out_name, in_ch=in_ch, out_ch=out_ch, kernel=k, stride=s, pad=p,
        weights=None, wformat=lw.wformat, wcomp=lw.wcomp, wsign=lw.wsign, wexp=lw.wexp, kind=kind,
    )  # fmt: skip
    if lw.norm_shift:
        notes.append(f"{node.name}: integer levels divided by 2^{lw.norm_shift} (power-of-two normalisation)")

    if final:  # int32 logits, no requantisation
        if relu or residual is not None:
            raise InputError(f"node {node.name!r}: the output layer cannot have ReLU or a residual")
        bad = ~(np.abs(bias_f) <= room)
        if bad.any():
            o = int(np.argmax(bad))
            raise InputError(
                f"node {node.name!r}: bias of channel {o} does not fit the {ACC_BITS}-bit accumulator"
            )
        bias = np.rint(bias_f).astype(np.int64)
        info = TensorInfo(out_name, oshape, True, float(np.max(np.abs(A))), bits=32)
        if not np.allclose(A, A[0], rtol=1e-9, atol=0):
            info.channel_scale = A.copy()
        layer = ConvLayer(
            **{**common, "weights": _int32(node, w)},
            bias=bias.astype(np.int32),
            mult=np.ones(out_ch, np.int32),
            shift=np.ones(out_ch, np.int32),
            relu=False,
            out_bits=32,
        )
        return layer, info

    s_y = _act_scale(cm, out_name, relu)
    m_real = A / s_y
    # channels whose output does not depend on the input: no weights, A == 0, or a bias too large for the
    # accumulator while the conv term stays below half an output step or the output saturates anyway
    const = (wsum == 0) | (A == 0)
    over = ~const & ~(np.abs(bias_f) <= room)
    swing = np.abs(m_real) * wsum * 255  # largest change of the output the input can cause, in steps
    saturated = np.abs(B / s_y) - swing > 256  # clamped whatever the input
    if (over & (swing >= 0.5) & ~saturated).any():
        o = int(np.argmax(over & (swing >= 0.5) & ~saturated))
        raise InputError(
            f"node {node.name!r}: bias of channel {o} does not fit the {ACC_BITS}-bit accumulator"
        )
    const |= over
    if const.any():
        w = w.copy()
        w[const] = 0
        for arr in (common["wcomp"], common["wsign"], common["wexp"]):
            if arr is not None:
                arr[const] = 0
        notes.append(
            f"{node.name}: {int(const.sum())} constant channel(s) (no weights, zero or negligible gain)"
        )
    m_eff = np.where(const, 2.0**-CONST_FRAC_BITS, m_real)
    # a constant beyond 2^20 output steps saturates anyway: clip it into the accumulator
    const_bias = np.clip(B / s_y * 2.0**CONST_FRAC_BITS, -(2.0**30), 2.0**30)
    bias = np.rint(np.where(const, const_bias, bias_f)).astype(np.int64)  # |bias_f| <= room elsewhere
    r_real = None
    if residual is not None:
        if residual.shape != oshape:
            raise InputError(
                f"node {node.name!r}: residual {residual.name!r} {residual.shape} != output {oshape}"
            )
        r_real = np.full(out_ch, residual.scale / s_y)
    fp = fixed_point(m_eff, r_real)
    mult, shift, ok = fp.mult, fp.shift, fp.ok
    if not ok.all():
        o = int(np.argmax(~ok))
        raise InputError(
            f"node {node.name!r}: mult of channel {o} does not fit int16 (gain {m_eff[o]:.3g}); "
            f"act_max[{out_name!r}] = {cm.act_max[out_name]:.3g} looks too small"
        )
    info = TensorInfo(out_name, oshape, not relu, s_y)
    layer = ConvLayer(
        **{**common, "weights": _int32(node, w)},
        bias=bias.astype(np.int32),
        mult=mult.astype(np.int32),
        shift=shift.astype(np.int32),
        relu=relu,
        residual=None if residual is None else residual.name,
        res_mult=None if fp.res_mult is None else fp.res_mult.astype(np.int32),
        res_shift=None if fp.res_shift is None else fp.res_shift.astype(np.int32),
    )
    return layer, info


def lower(cm: CompressedModel) -> IntegerGraph:
    """Lower a calibrated CompressedModel to the integer IR (validated)."""
    if not getattr(cm, "nodes", None):
        raise InputError("model has no nodes")
    if getattr(cm.nodes[-1], "op", None) != "fc":
        raise InputError(f"node {cm.nodes[-1].name!r}: the network must end in an fc layer (int32 logits)")
    validate_model(cm, f"{cm.arch} model")  # graph, shapes, attributes, numbers: InvalidModelError
    c, h, w = (int(v) for v in cm.input_shape)
    tensors: dict[str, TensorInfo] = {
        "input": TensorInfo("input", (c, h, w), True, _act_scale(cm, "input", False))
    }
    alias: dict[str, str] = {}
    layers = []
    notes: list[str] = []
    plan = _fusion_plan(cm)
    fused_by_add = {add.name: (conv_name, res) for conv_name, (add, res) in plan.items()}
    producer = {n.name: n for n in cm.nodes}

    def tensor(node: Node, name: str) -> TensorInfo:
        name = alias.get(name, name)
        if name not in tensors:
            raise InputError(f"node {node.name!r}: input {name!r} is not computed before it")
        return tensors[name]

    for i, node in enumerate(cm.nodes):
        final = i == len(cm.nodes) - 1
        if node.name in plan:
            continue  # emitted at its add
        if node.name in tensors:
            raise InputError(f"node {node.name!r}: duplicate tensor name")
        if node.op in ("conv", "fc") or node.op == "add":
            if node.op == "add":
                conv_name, res_name = fused_by_add[node.name]
                conv = producer[conv_name]
                x, res = tensor(conv, conv.inputs[0]), tensor(node, res_name)
            else:
                if node.weight is None:
                    raise InputError(f"node {node.name!r}: {node.op} without a weight")
                conv, x, res = node, tensor(node, node.inputs[0]), None
            layer, info = _lower_weighted(cm, conv, x, node.name, node.relu, res, final, notes)
        elif node.op == "maxpool":
            x = tensor(node, node.inputs[0])
            k, s, p = pool_geometry(node)
            if node.relu and x.signed:
                raise InputError(f"node {node.name!r}: maxpool with ReLU on a signed tensor is not supported")
            oshape = (x.shape[0], out_size(x.shape[1], k, s, p), out_size(x.shape[2], k, s, p))
            layer = PoolLayer(node.name, x.name, node.name, "max", k, s, p)
            info = TensorInfo(node.name, oshape, x.signed, x.scale)
        elif node.op == "avgpool":
            x = tensor(node, node.inputs[0])
            if x.signed:
                raise InputError(
                    f"node {node.name!r}: global avgpool needs an unsigned (ReLU) input, {x.name!r} is int8"
                )
            if x.shape[1] != x.shape[2]:
                raise InputError(f"node {node.name!r}: global avgpool needs a square map, got {x.shape}")
            s_y = _act_scale(cm, node.name, True)
            mult, shift, _, _, ok = fixed_point(np.array([x.scale / (x.shape[1] * x.shape[2] * s_y)]))
            if not ok.all():
                raise InputError(
                    f"node {node.name!r}: avgpool mult does not fit int16; act_max looks too small"
                )
            layer = PoolLayer(
                node.name, x.name, node.name, "avg", x.shape[1], 1, 0, int(mult[0]), int(shift[0])
            )
            info = TensorInfo(node.name, (x.shape[0], 1, 1), False, s_y)
        elif node.op == "flatten":
            x = tensor(node, node.inputs[0])
            if x.shape[1:] != (1, 1):
                raise InputError(f"node {node.name!r}: flatten is only supported on a 1x1 map, got {x.shape}")
            alias[node.name] = x.name
            continue
        else:
            raise InputError(f"node {node.name!r}: op {node.op!r} is not supported by lowering")
        layers.append(layer)
        tensors[info.name] = info
    out = alias.get(cm.output, cm.output)
    graph = IntegerGraph(
        arch=cm.arch,
        method=cm.method,
        num_classes=cm.num_classes,
        input="input",
        output=out,
        tensors=tensors,
        layers=layers,
        mean=tuple(cm.mean),
        std=tuple(cm.std),
        meta={"notes": notes, "fused_adds": sorted(fused_by_add)},
    )
    validate(graph)
    return graph
