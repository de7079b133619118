"""Fusion passes over an analysed graph: fewer nodes, fewer passes over memory.

- `fold_batch_norms`: an inference BatchNormalization with constant statistics is an affine map
  per channel, so it folds into the constant weights and bias of the Conv (or Gemm, or
  MatMul+Add) that feeds it, when that producer's output has no other reader.
- `fuse_activations`: an op that is the only reader of a Conv output and computes one of the
  conv epilogue's scalar functions (kernels/activation.py `CODES`) of it, with at most two
  parameters, runs inside the conv kernel, right after the bias.
Folded constants get new wires (a weight may be shared by several nodes), computed in float64
and stored in the weight's dtype.
"""
import dataclasses

import numpy as np

from ..fact import const
from ..graph import Graph
from ..kernels.activation_codes import CODES
from ..ops.conv import Conv


def fold_batch_norms(graph: Graph) -> Graph:
    g = graph.copy()
    consts = g.constants()
    for bn in list(g.nodes):
        params = _bn_affine(bn, g, consts)
        if params is None:
            continue
        producers, readers = g.producers(), g.consumers()
        src = producers.get(bn.inputs[0])
        if src is None or not _only_reader(g, readers, bn.inputs[0], bn):
            continue
        folder = FOLDERS.get(src.op.onnx_name)
        if folder is not None and folder(g, src, params, consts, producers, readers):
            src.outputs = [bn.outputs[0]] + src.outputs[1:]
            g.nodes = [n for n in g.nodes if n is not bn]
    return g


def _bn_affine(bn, g, consts):
    """(scale, shift) in float64 for an inference BN with constant 1-D parameters, else None."""
    op = bn.op
    if op.onnx_name != "BatchNormalization" or len(bn.inputs) < 5:
        return None
    if getattr(op, "training_mode", 0) or not getattr(op, "spatial", 1):
        return None
    if any(w for w in bn.outputs[1:]) or not all(w in consts for w in bn.inputs[1:5]):
        return None
    gamma, beta, mean, var = (consts[w].astype(np.float64) for w in bn.inputs[1:5])
    if not all(a.ndim == 1 and a.shape == gamma.shape for a in (beta, mean, var)):
        return None
    scale = gamma / np.sqrt(var + float(getattr(op, "epsilon", 1e-5)))
    return scale, beta - mean * scale


def _only_reader(g, readers, wire, node) -> bool:
    return wire not in g.outputs and [id(n) for n in readers.get(wire, [])] == [id(node)]


def _new_const(g, hint, value, dtype) -> str:
    name, i = hint, 0
    while name in g.facts:
        i += 1
        name = f"{hint}.{i}"
    g.facts[name] = const(np.asarray(value, dtype=dtype))
    return name


def _fold_conv(g, conv, params, consts, producers, readers) -> bool:
    scale, shift = params
    if type(conv.op) is not Conv or conv.op.activation or len(conv.inputs) < 2:
        return False
    w_wire, b_wire = conv.inputs[1], (conv.inputs[2] if len(conv.inputs) > 2 else "")
    if w_wire not in consts or (b_wire and b_wire not in consts):
        return False
    w = consts[w_wire]
    if w.shape[0] != scale.size or w.dtype.kind != "f":
        return False
    bias = consts[b_wire].astype(np.float64) if b_wire else np.zeros(scale.size)
    w_new = w.astype(np.float64) * scale.reshape((-1,) + (1,) * (w.ndim - 1))
    conv.inputs = [conv.inputs[0], _new_const(g, f"{conv.name}.bn_W", w_new, w.dtype),
                   _new_const(g, f"{conv.name}.bn_B", bias * scale + shift, w.dtype)]
    return True


def _fold_gemm(g, gemm, params, consts, producers, readers) -> bool:
    """Y = alpha*A*B + beta*C, then *scale + shift: scale B's output columns, rebuild C."""
    scale, shift = params
    b_wire, c_wire = gemm.inputs[1], (gemm.inputs[2] if len(gemm.inputs) > 2 else "")
    if b_wire not in consts or (c_wire and c_wire not in consts):
        return False
    b = consts[b_wire]
    trans_b = getattr(gemm.op, "transB", 0)
    if b.ndim != 2 or b.shape[0 if trans_b else 1] != scale.size or b.dtype.kind != "f":
        return False
    c = consts[c_wire].astype(np.float64) if c_wire else np.zeros(1)
    if c.ndim > 2 or (c.ndim == 2 and c.shape[0] != 1) or (c.size > 1 and c.shape[-1] != scale.size):
        return False
    b_new = b.astype(np.float64) * (scale[:, None] if trans_b else scale[None, :])
    c_new = (float(getattr(gemm.op, "beta", 1.0)) * c.reshape(-1)) * scale + shift
    gemm.inputs = [gemm.inputs[0], _new_const(g, f"{gemm.name}.bn_B", b_new, b.dtype),
                   _new_const(g, f"{gemm.name}.bn_C", c_new, b.dtype)]
    gemm.op = dataclasses.replace(gemm.op, beta=1.0)
    return True


def _fold_matmul_add(g, add, params, consts, producers, readers) -> bool:
    """MatMul(A, B) + c feeding a BN over rank-2 data: scale B's columns and c."""
    scale, shift = params
    if len(add.inputs) != 2 or g.facts[add.outputs[0]].rank != 2:
        return False
    mm_side = 0 if add.inputs[1] in consts else 1
    mm_wire, c_wire = add.inputs[mm_side], add.inputs[1 - mm_side]
    mm = producers.get(mm_wire)
    if mm is None or mm.op.onnx_name != "MatMul" or c_wire not in consts or \
            mm.inputs[1] not in consts or not _only_reader(g, readers, mm_wire, add):
        return False
    b, c = consts[mm.inputs[1]], consts[c_wire]
    if b.ndim != 2 or b.shape[1] != scale.size or b.dtype.kind != "f" or \
            c.size not in (1, scale.size) or c.ndim > 2 or (c.ndim == 2 and c.shape[0] != 1):
        return False
    mm.inputs = [mm.inputs[0], _new_const(g, f"{mm.name}.bn_B", b.astype(np.float64) * scale, b.dtype)]
    c_new = c.astype(np.float64).reshape(-1) * scale + shift
    add.inputs[1 - mm_side] = _new_const(g, f"{add.name}.bn_C", c_new, c.dtype)
    return True


FOLDERS = {"Conv": _fold_conv, "Gemm": _fold_gemm, "Add": _fold_matmul_add}


def fuse_activations(graph: Graph) -> Graph:
    g = graph.copy()
    consts = g.constants()
    readers = g.consumers()
    dropped = set()
    for conv in g.nodes:
        if type(conv.op) is not Conv or conv.op.activation:
            continue
        out = conv.outputs[0]
        if out in g.outputs or len(readers.get(out, [])) != 1:
            continue
        act = readers[out][0]
        fused = _activation(act, consts)
        if fused is None or act.inputs[0] != out or out in act.inputs[1:]:
            continue
        name, alpha, beta = fused
        conv.op = dataclasses.replace(conv.op, activation=name, alpha=alpha, beta=beta)
        conv.outputs = [act.outputs[0]]
        dropped.add(id(act))
    g.nodes = [n for n in g.nodes if id(n) not in dropped]
    return g


def fuse_leaky_relu_floor(graph: Graph) -> Graph:
    """Conv+LeakyRelu followed by Max(x, c) with a scalar constant c (tf2onnx's clipped leaky
    ReLU, 19 times in openWakeWord's embedding model) becomes one kernel epilogue."""
    g = graph.copy()
    consts, readers, dropped = g.constants(), g.consumers(), set()
    for conv in g.nodes:
        if type(conv.op) is not Conv or conv.op.activation != "leaky_relu":
            continue
        out = conv.outputs[0]
        nxt = readers.get(out, [])
        if out in g.outputs or len(nxt) != 1 or not _is_max(nxt[0], consts):
            continue
        other = [w for w in nxt[0].inputs if w != out]
        if len(other) != 1 or other[0] not in consts or consts[other[0]].size != 1:
            continue
        floor = float(consts[other[0]].reshape(-1)[0])
        conv.op = dataclasses.replace(conv.op, activation="leaky_relu_max", beta=floor)
        conv.outputs = [nxt[0].outputs[0]]
        dropped.add(id(nxt[0]))
    g.nodes = [n for n in g.nodes if id(n) not in dropped]
    return g


def _is_max(node, consts) -> bool:
    scalar = node.op.scalar(node, consts)
    return scalar is not None and scalar.fn == "max"


def _activation(node, consts):
    """(scalar function, alpha, beta) as the conv kernel takes them, or None if `node` cannot
    be fused."""
    scalar = node.op.scalar(node, consts)
    if scalar is None or not scalar.fn or scalar.fn not in CODES or len(scalar.params) > 2:
        return None
    if len(scalar.data_inputs(node)) != 1:
        return None
    alpha, beta = (tuple(float(p) for p in scalar.params) + (0.0, 0.0))[:2]
    return scalar.fn, alpha, beta
