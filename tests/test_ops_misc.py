"""Odds and ends: optionals, string ops, TfIdfVectorizer, Col2Im, NonMaxSuppression, random ops.

Oracles: onnx's node tests, onnxruntime, onnx's ReferenceEvaluator. Random ops cannot match a
reference value for value unless seeded: they are checked for shape, dtype and statistics, and a
seeded op must reproduce onnx's ReferenceEvaluator (same NumPy generator, same draw order).
"""
import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import pulsar
from conformance import cases_for, conformance_test
from reference import ort_run
from models import one_node
from pulsar import dims
from pulsar.errors import InferenceError

_RANDOM = ("random: the expected samples come from a generator state onnx does not record; even "
           "onnx's ReferenceEvaluator with seed 0 draws a different sample")
_OPTIONAL_INPUT = ("pulsar's importer rejects graph inputs typed optional(...) or sequence(...) "
                   "(onnx_import.declared_fact; change proposed in the report)")
KNOWN_FAILING = {
    "test_bernoulli": _RANDOM, "test_bernoulli_double": _RANDOM, "test_bernoulli_seed": _RANDOM,
    "test_bernoulli_expanded": _RANDOM, "test_bernoulli_double_expanded": _RANDOM,
    "test_bernoulli_seed_expanded": _RANDOM,
    "test_optional_get_element_optional_sequence": _OPTIONAL_INPUT,
    "test_optional_get_element_optional_tensor": _OPTIONAL_INPUT,
    "test_optional_get_element_sequence": _OPTIONAL_INPUT,
    "test_optional_has_element_empty_optional_input": _OPTIONAL_INPUT,
    "test_optional_has_element_optional_input": _OPTIONAL_INPUT,
    "test_optional_has_element_tensor_input": _OPTIONAL_INPUT,
}
MISC_OPS = ("Optional", "OptionalHasElement", "OptionalGetElement", "StringConcat", "RegexFullMatch",
            "StringSplit", "StringNormalizer", "TfIdfVectorizer", "Col2Im", "NonMaxSuppression",
            "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Bernoulli",
            "Multinomial", "BitCast", "TensorScatter")


test_conformance = conformance_test(cases_for(*MISC_OPS), KNOWN_FAILING)


RNG = np.random.default_rng(0)
STR, F32, I64 = TensorProto.STRING, TensorProto.FLOAT, TensorProto.INT64


def strings(*values):
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


# --- random ops ----------------------------------------------------------------------------

@pytest.mark.parametrize("op,attrs", [("RandomNormal", dict(mean=2.0, scale=3.0)),
                                      ("RandomUniform", dict(low=-2.0, high=5.0))])
def test_seeded_random_reproduces_the_onnx_reference(op, attrs):
    model = one_node(op, [], opset=17, shape=[3, 4], seed=7.0, dtype=TensorProto.DOUBLE,
                     out_types=(TensorProto.DOUBLE,), **attrs)
    loaded = pulsar.load(model)
    first, second = loaded.run([])[0], loaded.run([])[0]
    assert first.dtype == np.float64 and first.shape == (3, 4)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, ReferenceEvaluator(model).run(None, {})[0])


def test_random_ops_are_not_folded_and_have_the_right_statistics():
    model = one_node("RandomNormal", [], opset=17, shape=[200, 500], mean=1.0, scale=2.0)
    loaded = pulsar.load(model)
    assert loaded.graph.facts["y0"].value is None
    a, b = loaded.run([])[0], loaded.run([])[0]
    assert a.dtype == np.float32 and not np.array_equal(a, b)
    assert abs(a.mean() - 1.0) < 0.05 and abs(a.std() - 2.0) < 0.05


def test_random_like_ops_take_the_input_shape():
    model = one_node("RandomUniformLike", [("x", TensorProto.DOUBLE, ["N", 1000])], opset=17,
                     low=3.0, high=4.0, out_types=(TensorProto.DOUBLE,))
    loaded = pulsar.load(model)
    assert loaded.outputs[0].shape == (dims.sym("N"), 1000) and loaded.outputs[0].dtype == np.float64
    y = loaded.run([np.zeros((5, 1000))])[0]
    assert y.shape == (5, 1000) and 3 <= y.min() and y.max() < 4 and abs(y.mean() - 3.5) < 0.02
    normal = one_node("RandomNormalLike", [("x", F32, [300, 300])], opset=17, dtype=TensorProto.DOUBLE,
                      out_types=(TensorProto.DOUBLE,))
    z = pulsar.load(normal).run([np.zeros((300, 300), np.float32)])[0]
    assert z.dtype == np.float64 and abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02


def test_bernoulli_frequencies_follow_the_probabilities():
    p = np.tile(np.array([0.0, 0.2, 0.9, 1.0], np.float32), (5000, 1))
    model = one_node("Bernoulli", [("p", F32, list(p.shape))], opset=15, dtype=TensorProto.BOOL,
                     out_types=(TensorProto.BOOL,))
    y = pulsar.load(model).run([p])[0]
    assert y.dtype == np.bool_
    np.testing.assert_allclose(y.mean(axis=0), [0.0, 0.2, 0.9, 1.0], atol=0.02)


def test_multinomial_frequencies_follow_the_softmax():
    logits = np.log(np.array([[0.1, 0.6, 0.3], [0.5, 0.0, 0.5]], np.float32) + 1e-12)
    model = one_node("Multinomial", [("x", F32, [2, 3])], opset=7, sample_size=20000,
                     out_types=(TensorProto.INT32,))
    y = pulsar.load(model).run([logits])[0]
    assert y.shape == (2, 20000) and y.dtype == np.int32
    freq = np.stack([np.bincount(row, minlength=3) / row.size for row in y])
    np.testing.assert_allclose(freq, [[0.1, 0.6, 0.3], [0.5, 0.0, 0.5]], atol=0.02)


# --- strings and optionals -----------------------------------------------------------------

def test_string_split_adds_a_symbolic_axis():
    model = one_node("StringSplit", [("x", STR, ["N"])], out_types=(STR, I64), delimiter=",", maxsplit=2)
    loaded = pulsar.load(model)
    assert loaded.outputs[0].shape[0] == dims.sym("N") and len(loaded.outputs[0].shape) == 2
    x = strings("a,b,c,d", "", "x,,y")
    got = loaded.run([x])
    want = ReferenceEvaluator(model).run(None, {"x": x})
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("case_sensitive", [0, 1])
@pytest.mark.parametrize("action", ["NONE", "LOWER", "UPPER"])
@pytest.mark.parametrize("stopwords", [[], ["monday", "hello world"], ["Monday", "tuesday", "monday", "Hello World"]])
@pytest.mark.parametrize("two_dim", [False, True])
def test_string_normalizer_matches_onnxruntime(case_sensitive, action, stopwords, two_dim):
    x = strings("Monday", "tuesday", "monday", "Hello World")
    x = x.reshape(1, -1) if two_dim else x
    attrs = dict(is_case_sensitive=case_sensitive, case_change_action=action, locale="C")
    if stopwords:
        attrs["stopwords"] = stopwords
    model = one_node("StringNormalizer", [("x", STR, list(x.shape))], opset=10, out_types=(STR,), **attrs)
    got, want = pulsar.load(model).run([x])[0], ort_run(model, {"x": x})[0]
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_regex_errors_name_the_pattern():
    model = one_node("RegexFullMatch", [("x", STR, [2])], out_types=(TensorProto.BOOL,), pattern="a(b")
    with pytest.raises(InferenceError, match=r"pattern 'a\(b' is not a valid regular expression"):
        pulsar.load(model)


def test_optional_round_trip_of_a_tensor():
    wrap = helper.make_node("Optional", ["x"], ["o"])
    has = helper.make_node("OptionalHasElement", ["o"], ["h"])
    get = helper.make_node("OptionalGetElement", ["o"], ["v"])
    graph = helper.make_graph([wrap, has, get], "g", [helper.make_tensor_value_info("x", F32, [3])],
                              [helper.make_tensor_value_info("h", TensorProto.BOOL, []),
                               helper.make_tensor_value_info("v", F32, [3])])
    loaded = pulsar.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    has_value, value = loaded.run([np.arange(3, dtype=np.float32)])
    assert has_value and value.tolist() == [0, 1, 2]


def test_empty_optional_has_no_element():
    empty = helper.make_node("Optional", [], ["o"], type=helper.make_tensor_type_proto(F32, [2]))
    has = helper.make_node("OptionalHasElement", ["o"], ["h"])
    graph = helper.make_graph([empty, has], "g", [], [helper.make_tensor_value_info("h", TensorProto.BOOL, [])])
    loaded = pulsar.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    assert loaded.run([])[0] == np.array(False)


# --- TfIdfVectorizer, Col2Im, NonMaxSuppression --------------------------------------------

@pytest.mark.parametrize("mode", ["TF", "IDF", "TFIDF"])
@pytest.mark.parametrize("grams", [(1, 1), (1, 2), (2, 3)])
@pytest.mark.parametrize("skip", [0, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_tfidf_matches_onnxruntime(mode, grams, skip, weighted):
    rng = np.random.default_rng(sum(grams) * 10 + skip)
    attrs = dict(mode=mode, min_gram_length=grams[0], max_gram_length=grams[1], max_skip_count=skip,
                 ngram_counts=[0, 4, 10], ngram_indexes=[int(i) for i in rng.permutation(8)],
                 pool_int64s=[2, 3, 5, 4, 5, 6, 7, 8, 6, 7, 3, 2, 3])
    if weighted:
        attrs["weights"] = [float(w) for w in rng.uniform(0.1, 2, 8)]
    x = rng.integers(2, 9, (3, 12)).astype(np.int64)
    model = one_node("TfIdfVectorizer", [("x", I64, ["B", 12])], opset=9, **attrs)
    loaded = pulsar.load(model)
    assert loaded.outputs[0].shape == (dims.sym("B"), 8)
    np.testing.assert_allclose(loaded.run([x])[0], ort_run(model, {"x": x})[0], rtol=1e-6)


@pytest.mark.parametrize("image,block,dilations,pads,strides", [
    ([5, 5], [2, 3], [1, 1], [0, 0, 0, 0], [1, 1]),
    ([7, 6], [3, 2], [2, 1], [1, 0, 2, 1], [2, 1]),
    ([4, 5, 6], [2, 1, 3], [1, 2, 1], [0, 1, 1, 1, 0, 2], [1, 2, 2])])
def test_col2im_matches_the_onnx_reference(image, block, dilations, pads, strides):
    n = len(image)
    blocks = [(image[i] + pads[i] + pads[i + n] - dilations[i] * (block[i] - 1) - 1) // strides[i] + 1
              for i in range(n)]
    x = RNG.standard_normal((2, 3 * int(np.prod(block)), int(np.prod(blocks)))).astype(np.float32)
    model = one_node("Col2Im", [("x", F32, ["N", *x.shape[1:]])],
                     {"i": np.array(image, np.int64), "b": np.array(block, np.int64)}, opset=18,
                     dilations=dilations, pads=pads, strides=strides)
    loaded = pulsar.load(model)
    assert loaded.outputs[0].shape == (dims.sym("N"), 3, *image)
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    np.testing.assert_allclose(loaded.run([x])[0], want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("center_point_box", [0, 1])
@pytest.mark.parametrize("seed", range(6))
def test_nms_matches_onnxruntime(center_point_box, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    boxes = rng.uniform(0, 10, (2, n, 4)).astype(np.float32)
    if center_point_box:
        boxes[..., 2:] /= 2
    scores = rng.uniform(0, 1, (2, 3, n)).astype(np.float32)
    if seed % 2:
        scores = np.round(scores, 1)        # ties: the lower box index goes first
    consts = {"m": np.array([rng.integers(0, 6)], np.int64), "i": np.array([rng.uniform(0, 0.7)], np.float32),
              "s": np.array([rng.uniform(0, 0.5)], np.float32)}
    model = one_node("NonMaxSuppression", [("b", F32, list(boxes.shape)), ("c", F32, list(scores.shape))],
                     consts, opset=11, out_types=(I64,), center_point_box=center_point_box)
    got = pulsar.load(model).run([boxes, scores])[0]
    np.testing.assert_array_equal(got, ort_run(model, {"b": boxes, "c": scores})[0])


def test_bitcast_needs_equal_widths():
    model = one_node("BitCast", [("x", F32, [3])], opset=26, to=TensorProto.INT64, out_types=(I64,))
    with pytest.raises(InferenceError, match="cannot reinterpret float32 as int64"):
        pulsar.load(model)


@pytest.mark.parametrize("mode", ["linear", "circular"])
def test_tensor_scatter_writes_a_symbolic_cache(mode):
    model = one_node("TensorScatter", [("cache", F32, ["B", 2, 6, 3]), ("update", F32, ["B", 2, 2, 3]),
                                       ("at", I64, ["B"])], opset=24, mode=mode)
    loaded = pulsar.load(model)
    assert loaded.outputs[0].shape == (dims.sym("B"), 2, 6, 3)
    cache = RNG.standard_normal((3, 2, 6, 3)).astype(np.float32)
    update = RNG.standard_normal((3, 2, 2, 3)).astype(np.float32)
    at = np.array([0, 4, 5 if mode == "circular" else 3], np.int64)
    want = ReferenceEvaluator(model).run(None, {"cache": cache, "update": update, "at": at})[0]
    np.testing.assert_array_equal(loaded.run([cache, update, at])[0], want)
    if mode == "linear":
        with pytest.raises(InferenceError, match="overruns a cache of 6"):
            loaded.run([cache, update, np.array([0, 0, 5], np.int64)])
