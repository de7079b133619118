"""Tensor ops (Concat, Split, Slice, Tile, Gather*, Scatter*, Pad, CenterCropPad,
DepthToSpace, SpaceToDepth, ReverseSequence, NonZero, Compress, Unique): ONNX conformance,
symbolic facts checked against onnxruntime, and error messages."""
import numpy as np
import pytest
from onnx import TensorProto, helper

import pulsar
from conformance import cases_for, conformance_test
from models import init, model, tensor
from pulsar import dims
from pulsar.errors import InferenceError
from pulsar.fact import symbolic_array
from pulsar.ops.tensor import Concat, Slice
from symbolic_check import assert_matches_ort, untyped

S, T = dims.sym("S"), dims.sym("T")
OPS = ("Concat", "Split", "Slice", "Tile", "Gather", "GatherElements", "GatherND", "ScatterND",
       "ScatterElements", "Scatter", "Pad", "CenterCropPad", "DepthToSpace", "SpaceToDepth",
       "ReverseSequence", "NonZero", "Compress", "Unique")
KNOWN_FAILING = {}


test_conformance = conformance_test(cases_for(*OPS), KNOWN_FAILING, skip_unsupported=True)


def one_node(op, inputs, attrs=None, inits=(), x_shape=(1, "S", 32), n_out=1, opset=18):
    outs = [f"y{i}" for i in range(n_out)]
    node = helper.make_node(op, inputs, outs, **(attrs or {}))
    return model([node], [tensor("x", list(x_shape))], [untyped(o) for o in outs],
                 inits, opset=opset)


X = {"x": (np.float32, (1, "S", 32))}
INT64_MAX = 2**63 - 1


# --- symbolic facts, each checked against onnxruntime ----------------------------------

def test_concat_sums_symbolic_dims():
    mdl = model([helper.make_node("Concat", ["x", "z", "x"], ["y"], axis=1)],
                [tensor("x", [1, "S", 32]), tensor("z", [1, "T", 32])], [untyped("y")],
                opset=18)
    m = assert_matches_ort(mdl, {"x": (np.float32, (1, "S", 32)), "z": (np.float32, (1, "T", 32))},
                           lengths=[{"S": 3, "T": 5}, {"S": 10, "T": 1}])
    assert m.outputs[0].shape == (1, 2 * S + T, 32)


def test_split_with_sizes_from_shape_arithmetic():
    """split = [1, S-1], computed from Shape: the outputs are [1,1,32] and [1,S-1,32]."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Slice", ["s", "one", "two"], ["n"]),
             helper.make_node("Sub", ["n", "one"], ["rest"]),
             helper.make_node("Concat", ["one", "rest"], ["sizes"], axis=0),
             helper.make_node("Split", ["x", "sizes"], ["a", "b"], axis=1)]
    mdl = model(nodes, [tensor("x", [1, "S", 32])], [untyped("a"), untyped("b")],
                [init("one", np.array([1])), init("two", np.array([2]))], opset=18)
    m = assert_matches_ort(mdl, X)
    assert [o.shape for o in m.outputs] == [(1, 1, 32), (1, S - 1, 32)]


@pytest.mark.parametrize("opset,attrs", [(18, {"num_outputs": 3}), (13, {})])
def test_split_symbolic_equal_parts(opset, attrs):
    m = assert_matches_ort(one_node("Split", ["x"], {"axis": 1, **attrs}, n_out=3, opset=opset),
                           X, lengths=(9, 12) if opset < 18 else (9, 10, 11))
    chunk = (S + 2) // 3 if opset >= 18 else S // 3
    assert [o.shape[1] for o in m.outputs][:2] == [chunk, chunk]


def test_slice_with_symbolic_starts():
    """x[:, S-3:S] from shape arithmetic has exactly 3 frames."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Slice", ["s", "one", "two"], ["n"]),
             helper.make_node("Sub", ["n", "three"], ["start"]),
             helper.make_node("Slice", ["x", "start", "n", "one"], ["y"])]
    mdl = model(nodes, [tensor("x", [1, "S", 32])], [untyped("y")],
                [init("one", np.array([1])), init("two", np.array([2])),
                 init("three", np.array([3]))], opset=18)
    assert assert_matches_ort(mdl, X).outputs[0].shape == (1, 3, 32)


def test_slice_of_concrete_axis_by_symbolic_end():
    """A table of 64 rows sliced to [0:S]: min(S, 64) rows."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Slice", ["s", "one", "two"], ["n"]),
             helper.make_node("Slice", ["table", "zero", "n", "zero"], ["y"])]
    mdl = model(nodes, [tensor("x", [1, "S", 32])], [untyped("y")],
                [init("one", np.array([1])), init("two", np.array([2])),
                 init("zero", np.array([0])),
                 init("table", np.arange(128, dtype=np.float32).reshape(64, 2))], opset=18)
    m = assert_matches_ort(mdl, X, lengths=(3, 64, 70))
    assert m.outputs[0].shape == (dims.dmin(S, 64), 2)


@pytest.mark.parametrize("pads,mode,expected", [
    ([0, 2, 0, 0, 3, 0], "constant", (1, S + 5, 32)),
    ([0, 1, 0, 0, 1, 0], "reflect", (1, S + 2, 32)),
    ([0, -1, 2, 0, 0, 1], "edge", (1, S - 1, 35)),
    ([0, 0, 1, 0, 2, 0], "wrap", (1, S + 2, 33)),
])
def test_pad_symbolic(pads, mode, expected):
    opset = 19 if mode == "wrap" else 18
    m = assert_matches_ort(one_node("Pad", ["x", "p"], {"mode": mode},
                                    inits=[init("p", np.array(pads))], opset=opset), X)
    assert m.outputs[0].shape == expected


def test_tile_gather_symbolic():
    nodes = [helper.make_node("Tile", ["x", "r"], ["t"]),
             helper.make_node("Gather", ["t", "i"], ["y"], axis=2)]
    mdl = model(nodes, [tensor("x", [1, "S", 32])], [untyped("t"), untyped("y")],
                [init("r", np.array([2, 3, 1])), init("i", np.array([[0, -1], [5, 6]]))], opset=18)
    m = assert_matches_ort(mdl, X)
    assert [o.shape for o in m.outputs] == [(2, 3 * S, 32), (2, 3 * S, 2, 2)]


def test_depth_space_symbolic():
    nodes = [helper.make_node("DepthToSpace", ["x"], ["d"], blocksize=2, mode="CRD"),
             helper.make_node("SpaceToDepth", ["d"], ["y"], blocksize=2)]
    mdl = model(nodes, [tensor("x", [1, 8, "S", 3])], [untyped("d"), untyped("y")],
                opset=18)
    m = assert_matches_ort(mdl, {"x": (np.float32, (1, 8, "S", 3))})
    assert [o.shape for o in m.outputs] == [(1, 2, 2 * S, 6), (1, 8, S, 3)]


def test_data_dependent_sizes_get_fresh_symbols():
    nodes = [helper.make_node("NonZero", ["x"], ["nz"]),
             helper.make_node("Unique", ["x"], ["u", "idx", "inv", "cnt"])]
    mdl = model(nodes, [tensor("x", [1, "S"])], [untyped(w) for w in ("nz", "u", "inv")])
    m = pulsar.load(mdl)
    nz, u, inv = (o.shape for o in m.outputs)
    assert nz[0] == 2 and dims.symbols(nz[1]) - {"S"}
    assert dims.symbols(u[0]) - {"S"} and inv == (S,)
    x = np.array([[0.0, 3.0, 3.0, 0.0, 1.0]], np.float32)
    out = m.run([x])
    assert out[0].tolist() == [[0, 0, 0], [1, 2, 4]]
    assert out[1].tolist() == [0.0, 1.0, 3.0] and out[2].tolist() == [0, 2, 2, 0, 1]


def test_compress_with_constant_condition_is_exact():
    m = assert_matches_ort(one_node("Compress", ["x", "c"], {"axis": 2},
                                    inits=[init("c", np.arange(32) % 3 == 0)]), X)
    assert m.outputs[0].shape == (1, S, 11)


# --- eval on object arrays of Dims -------------------------------------------------------

def test_eval_on_symbolic_values():
    shape = symbolic_array([1, S, 32])
    joined = Concat(axis=0).eval(shape, np.array([1]), symbolic_array([T]))[0]
    assert list(joined) == [1, S, 32, 1, T]
    tail = Slice().eval(shape, np.array([-2]), np.array([INT64_MAX]))[0]
    assert list(tail) == [S, 32]


# --- errors -------------------------------------------------------------------------------

def _load_error(mdl, *words):
    with pytest.raises(InferenceError) as e:
        pulsar.load(mdl)
    for word in words:
        assert word in str(e.value), str(e.value)


def test_concat_mismatch():
    mdl = model([helper.make_node("Concat", ["x", "z"], ["y"], axis=0)],
                [tensor("x", [2, 3]), tensor("z", [2, 4])], [untyped("y")])
    _load_error(mdl, "input 1 has dim 4 on axis 1 but input 0 has 3")
    mdl = model([helper.make_node("Concat", ["x", "z"], ["y"], axis=0)],
                [tensor("x", [2, 3]), tensor("z", [2, 3, 1])], [untyped("y")])
    _load_error(mdl, "dtypes and ranks must match")


def test_slice_step_zero():
    _load_error(one_node("Slice", ["x", "a", "b", "c", "d"],
                         inits=[init(n, np.array([v])) for n, v in zip("abcd", (0, 5, 1, 0))]),
                "steps hold a 0")


def test_gather_out_of_range_constant_indices():
    _load_error(one_node("Gather", ["x", "i"], {"axis": 2}, inits=[init("i", np.array([3, 32]))]),
                "indices input holds 32", "size 32")


def test_gather_out_of_range_at_run_time():
    mdl = model([helper.make_node("Gather", ["x", "i"], ["y"], axis=1)],
                [tensor("x", [2, 3]), tensor("i", [2], TensorProto.INT64)], [untyped("y")])
    m = pulsar.load(mdl)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert m.run([x, np.array([-1, 0])])[0].tolist() == [[2, 0], [5, 3]]
    with pytest.raises(InferenceError, match=r"indices input holds 3, out of range .* size 3"):
        m.run([x, np.array([0, 3])])


def test_scatter_and_pad_errors():
    _load_error(one_node("Pad", ["x", "p"], inits=[init("p", np.array([1, 2]))]),
                "2 values per axis")
    _load_error(one_node("Pad", ["x", "p"], {"mode": "mirror"},
                         inits=[init("p", np.zeros(6, np.int64))]), "unknown mode 'mirror'")
    mdl = model([helper.make_node("ScatterND", ["x", "i", "u"], ["y"])],
                [tensor("x", [4, 3]), tensor("u", [2, 2])], [untyped("y")],
                [init("i", np.array([[0], [1]]))])
    _load_error(mdl, "updates", "must have shape [2,3]")


# --- opsets before attributes became inputs (no conformance case covers them) -----------

@pytest.mark.parametrize("op,attrs,opset,expected", [
    ("Slice", {"starts": [1, -4], "ends": [INT64_MAX, -1], "axes": [1, 2]}, 9, (1, S - 1, 3)),
    ("Slice", {"starts": [0], "ends": [2]}, 9, (1, S, 32)),
    ("Pad", {"pads": [0, 1, 0, 0, 2, 3], "mode": "edge"}, 10, (1, S + 3, 35)),
    ("Pad", {"pads": [0, 0, 1, 0, 0, 1], "value": 2.5}, 10, (1, S, 34)),
])
def test_attribute_opsets(op, attrs, opset, expected):
    m = assert_matches_ort(one_node(op, ["x"], attrs, opset=opset), X)
    assert m.outputs[0].shape == expected


def test_split_attribute_opset():
    m = assert_matches_ort(one_node("Split", ["x"], {"axis": 2, "split": [30, 2]}, n_out=2,
                                    opset=11), X)
    assert [o.shape for o in m.outputs] == [(1, S, 30), (1, S, 2)]
