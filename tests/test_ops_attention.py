"""Attention, RotaryEmbedding, SwiGLU and LinearAttention: ONNX conformance, symbolic sequence
lengths against onnxruntime / onnx.reference, KV-cache and chunked (streaming) runs against one
whole-sequence reference run, and shape errors."""
import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import pulsar
from conformance import cases_for, conformance_test
from reference import ort_run
from models import model, tensor
from pulsar import dims
from pulsar.errors import InferenceError, PulsarError

S, P = dims.sym("S"), dims.sym("P")
FLOAT, INT64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
KNOWN_FAILING = {}


test_conformance = conformance_test(
    cases_for("Attention", "RotaryEmbedding", "SwiGLU", "LinearAttention"), KNOWN_FAILING)


def one_node(op, inputs, outputs, opset, **attrs):
    """inputs: (name, elem, shape) triples; '' skips an optional input."""
    node = helper.make_node(op, [i[0] if i else "" for i in inputs], list(outputs), **attrs)
    return model([node], [tensor(*i[::2], i[1]) for i in inputs if i],
                 [tensor(o, None) for o in outputs if o], opset=opset)


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def reference_run(onnx_model, feeds):
    return ReferenceEvaluator(onnx_model).run(None, feeds)


def assert_runs_like(got, want, rtol=1e-5, atol=1e-6):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


# --- Attention ----------------------------------------------------------------------------

def test_packed_causal_attention_keeps_the_sequence_symbol():
    m = one_node("Attention", [("q", FLOAT, [2, "S", 24]), ("k", FLOAT, [2, "S", 8]),
                               ("v", FLOAT, [2, "S", 10])],
                 ["y"], 23, is_causal=1, q_num_heads=6, kv_num_heads=2)
    loaded = pulsar.load(m)
    assert loaded.graph.facts["y"].shape == (2, S, 30)
    rng = np.random.default_rng(0)
    for s in (1, 4, 9):
        feeds = {"q": randn(rng, 2, s, 24), "k": randn(rng, 2, s, 8), "v": randn(rng, 2, s, 10)}
        assert_runs_like(loaded.run(feeds), ort_run(m, feeds))


def cache_model(mode=0):
    return one_node("Attention", [("q", FLOAT, [1, 4, "S", 8]), ("k", FLOAT, [1, 2, "S", 8]),
                                  ("v", FLOAT, [1, 2, "S", 8]), None,
                                  ("pk", FLOAT, [1, 2, "P", 8]), ("pv", FLOAT, [1, 2, "P", 8])],
                    ["y", "present_k", "present_v", "qk"], 23, is_causal=1,
                    qk_matmul_output_mode=mode)


def test_kv_cache_facts_add_past_and_new_lengths():
    facts = pulsar.load(cache_model()).graph.facts
    assert facts["y"].shape == (1, 4, S, 8)
    assert facts["present_k"].shape == facts["present_v"].shape == (1, 2, P + S, 8)
    assert facts["qk"].shape == (1, 4, S, P + S)


@pytest.mark.parametrize("mode", [0, 2, 3])
def test_kv_cache_runs_like_the_reference(mode):
    m = cache_model(mode)
    loaded = pulsar.load(m)
    rng = np.random.default_rng(mode)
    for past, s in ((0, 3), (5, 1), (2, 4)):
        feeds = {"q": randn(rng, 1, 4, s, 8), "k": randn(rng, 1, 2, s, 8),
                 "v": randn(rng, 1, 2, s, 8), "pk": randn(rng, 1, 2, past, 8),
                 "pv": randn(rng, 1, 2, past, 8)}
        assert_runs_like(loaded.run(feeds), reference_run(m, feeds))


def test_decoding_chunk_by_chunk_equals_one_causal_run():
    """Feeding present_key/value back as the past cache reproduces the whole-sequence run."""
    rng = np.random.default_rng(1)
    q, k, v = randn(rng, 1, 4, 7, 8), randn(rng, 1, 2, 7, 8), randn(rng, 1, 2, 7, 8)
    whole = one_node("Attention", [("q", FLOAT, [1, 4, 7, 8]), ("k", FLOAT, [1, 2, 7, 8]),
                                   ("v", FLOAT, [1, 2, 7, 8])], ["y"], 23, is_causal=1)
    want = ort_run(whole, {"q": q, "k": k, "v": v})[0]
    stepper = pulsar.load(cache_model())
    pk, pv, ys = np.zeros((1, 2, 0, 8), np.float32), np.zeros((1, 2, 0, 8), np.float32), []
    for a, b in ((0, 3), (3, 4), (4, 7)):
        y, pk, pv, _ = stepper.run({"q": q[:, :, a:b], "k": k[:, :, a:b], "v": v[:, :, a:b],
                                    "pk": pk, "pv": pv})
        ys.append(y)
    np.testing.assert_allclose(np.concatenate(ys, axis=2), want, rtol=1e-5, atol=1e-6)


def test_padded_external_cache_with_window_runs_like_the_reference():
    m = one_node("Attention", [("q", FLOAT, [2, 2, 3, 4]), ("k", FLOAT, [2, 2, 6, 4]),
                               ("v", FLOAT, [2, 2, 6, 4]), ("mask", BOOL, [2, 1, 3, 5]), None,
                               None, ("n", INT64, [2])],
                 ["y"], 25, is_causal=1, left_window_size=2, softcap=1.5)
    rng = np.random.default_rng(2)
    feeds = {"q": randn(rng, 2, 2, 3, 4), "k": randn(rng, 2, 2, 6, 4),
             "v": randn(rng, 2, 2, 6, 4), "mask": rng.random((2, 1, 3, 5)) > 0.2,
             "n": np.array([6, 4], np.int64)}
    assert_runs_like(pulsar.load(m).run(feeds), reference_run(m, feeds))


@pytest.mark.parametrize("inputs,attrs,message", [
    ([("q", FLOAT, [1, 4, 12]), ("k", FLOAT, [1, 4, 12]), ("v", FLOAT, [1, 4, 12])], {},
     "3-D inputs need the q_num_heads and kv_num_heads"),
    ([("q", FLOAT, [1, 3, 4, 8]), ("k", FLOAT, [1, 2, 4, 8]), ("v", FLOAT, [1, 2, 4, 8])], {},
     r"query heads \(3\) must be a multiple of key/value heads \(2\)"),
    ([("q", FLOAT, [1, 2, 4, 8]), ("k", FLOAT, [1, 2, 4, 6]), ("v", FLOAT, [1, 2, 4, 8])], {},
     "K must be"),
    ([("q", FLOAT, [1, 2, 4, 8]), ("k", FLOAT, [1, 2, 4, 8]), ("v", FLOAT, [1, 2, 4, 8]),
      ("m", FLOAT, [4, 7])], {}, "attn_mask covers 7 keys"),
    ([("q", FLOAT, [1, 2, 4, 8]), ("k", FLOAT, [1, 2, 4, 8]), ("v", FLOAT, [1, 2, 4, 8]),
      None, ("pk", FLOAT, [1, 2, 3, 8])], {}, "past_key and past_value must be given together"),
])
def test_attention_shape_errors(inputs, attrs, message):
    with pytest.raises(InferenceError, match=message):
        pulsar.load(one_node("Attention", inputs, ["y"], 24, **attrs))


# --- RotaryEmbedding and SwiGLU ------------------------------------------------------------

@pytest.mark.parametrize("interleaved,rot", [(0, 0), (1, 0), (0, 4), (1, 4)])
def test_rotary_embedding_over_a_symbolic_length(interleaved, rot):
    half = (rot or 8) // 2
    m = one_node("RotaryEmbedding", [("x", FLOAT, [2, "S", 16]), ("cos", FLOAT, [20, half]),
                                     ("sin", FLOAT, [20, half]), ("pos", INT64, [2, "S"])],
                 ["y"], 23, num_heads=2, interleaved=interleaved, rotary_embedding_dim=rot)
    loaded = pulsar.load(m)
    assert loaded.graph.facts["y"].shape == (2, S, 16)
    rng = np.random.default_rng(interleaved + rot)
    for s in (1, 6):
        feeds = {"x": randn(rng, 2, s, 16), "cos": randn(rng, 20, half),
                 "sin": randn(rng, 20, half), "pos": rng.integers(0, 20, (2, s))}
        assert_runs_like(loaded.run(feeds), ort_run(m, feeds))


def test_rotary_position_out_of_the_cache_is_a_clear_error():
    m = one_node("RotaryEmbedding", [("x", FLOAT, [1, 1, 2, 4]), ("cos", FLOAT, [3, 2]),
                                     ("sin", FLOAT, [3, 2]), ("pos", INT64, [1, 2])], ["y"], 23)
    cache = np.ones((3, 2), np.float32)
    with pytest.raises(PulsarError, match=r"position_ids must lie in \[0, 3\)"):
        pulsar.load(m).run([np.ones((1, 1, 2, 4), np.float32), cache, cache,
                            np.array([[0, 3]], np.int64)])


def test_rotary_odd_dimension_is_rejected():
    m = one_node("RotaryEmbedding", [("x", FLOAT, [1, 1, 2, 5]), ("cos", FLOAT, [1, 2, 2]),
                                     ("sin", FLOAT, [1, 2, 2])], ["y"], 23)
    with pytest.raises(InferenceError, match="must be even"):
        pulsar.load(m)


def test_swiglu_keeps_a_symbolic_shape():
    m = one_node("SwiGLU", [("a", FLOAT, ["S", 4]), ("b", FLOAT, ["S", 4])], ["y"], 28, alpha=1.7)
    loaded = pulsar.load(m)
    assert loaded.graph.facts["y"].shape == (S, 4)
    rng = np.random.default_rng(3)
    a, b = randn(rng, 5, 4), randn(rng, 5, 4)
    expected = a / (1 + np.exp(-1.7 * a)) * b
    np.testing.assert_allclose(loaded.run([a, b])[0], expected, rtol=1e-6)


def test_swiglu_does_not_broadcast():
    m = one_node("SwiGLU", [("a", FLOAT, [3, 4]), ("b", FLOAT, [1, 4])], ["y"], 28)
    with pytest.raises(InferenceError, match="does not broadcast"):
        pulsar.load(m)


# --- LinearAttention -----------------------------------------------------------------------

def linear_model(rule="gated_delta", steps="T", hq=4, hkv=2, d=4, with_past=False):
    decay = ("decay", FLOAT, [2, steps, hkv * d]) if "gated" in rule else None
    beta = ("beta", FLOAT, [2, steps, hkv]) if "delta" in rule else None
    past = ("past", FLOAT, [2, hkv, d, d]) if with_past else None
    return one_node("LinearAttention", [("q", FLOAT, [2, steps, hq * d]),
                                        ("k", FLOAT, [2, steps, hkv * d]),
                                        ("v", FLOAT, [2, steps, hkv * d]), past, decay, beta],
                    ["y", "state"], 27, q_num_heads=hq, kv_num_heads=hkv, update_rule=rule)


def linear_feeds(rng, steps, hq=4, hkv=2, d=4):
    k = randn(rng, 2, steps, hkv, d)
    k /= np.linalg.norm(k, axis=-1, keepdims=True)       # delta rules expect unit keys
    return {"q": randn(rng, 2, steps, hq * d), "k": k.reshape(2, steps, -1),
            "v": randn(rng, 2, steps, hkv * d), "past": randn(rng, 2, hkv, d, d) * 0.1,
            "decay": -np.abs(randn(rng, 2, steps, hkv * d)) * 0.2,
            "beta": 1 / (1 + np.exp(-randn(rng, 2, steps, hkv)))}


@pytest.mark.parametrize("rule", ["linear", "gated", "delta", "gated_delta"])
def test_linear_attention_over_a_symbolic_length(rule):
    m = linear_model(rule, with_past=True)
    loaded = pulsar.load(m)
    t = dims.sym("T")
    assert loaded.graph.facts["y"].shape == (2, t, 16)
    assert loaded.graph.facts["state"].shape == (2, 2, 4, 4)
    rng = np.random.default_rng(4)
    for steps in (1, 5):
        all_feeds = linear_feeds(rng, steps)
        feeds = {i.name: all_feeds[i.name] for i in loaded.inputs}
        assert_runs_like(loaded.run(feeds), reference_run(m, feeds), rtol=1e-4, atol=1e-5)


def test_linear_attention_in_chunks_equals_one_run():
    """The recurrence is streaming-shaped: carrying present_state across chunks changes nothing."""
    m = linear_model(with_past=True)
    loaded = pulsar.load(m)
    feeds = linear_feeds(np.random.default_rng(5), 7)
    whole_y, whole_state = reference_run(m, feeds)
    state, ys = feeds["past"], []
    for a, b in ((0, 2), (2, 3), (3, 7)):
        chunk = {n: (x[:, a:b] if n not in ("past",) else state) for n, x in feeds.items()}
        y, state = loaded.run(chunk)
        ys.append(y)
    np.testing.assert_allclose(np.concatenate(ys, axis=1), whole_y, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(state, whole_state, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("rule,attrs,message", [
    ("gated", {"update_rule": "delta"}, "takes decay: False"),
    ("linear", {"q_num_heads": 3}, r"q_num_heads \(3\) must be a positive multiple"),
    ("linear", {"update_rule": "fast"}, "update_rule must be one of"),
])
def test_linear_attention_errors(rule, attrs, message):
    m = linear_model(rule)
    node = m.graph.node[0]
    for attr in node.attribute:
        if attr.name in attrs:
            value = attrs[attr.name]
            attr.CopyFrom(helper.make_attribute(attr.name, value))
    with pytest.raises(InferenceError, match=message):
        pulsar.load(m)


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
def test_qk_matmul_output_modes_with_softcap_match_onnxruntime(mode):
    """Mode 0 is the raw Q.K^T (spec, onnxruntime); onnx's reference softcaps it there.
    (A float mask: onnxruntime's mode-2 output shows a bool mask as float32's lowest, not -inf.)"""
    m = one_node("Attention", [("q", FLOAT, [1, 2, 3, 4]), ("k", FLOAT, [1, 2, 5, 4]),
                               ("v", FLOAT, [1, 2, 5, 4]), ("mask", FLOAT, [3, 5])],
                 ["y", "", "", "qk"], 23, softcap=0.5, qk_matmul_output_mode=mode)
    rng = np.random.default_rng(mode)
    feeds = {"q": randn(rng, 1, 2, 3, 4) * 3, "k": randn(rng, 1, 2, 5, 4) * 3,
             "v": randn(rng, 1, 2, 5, 4), "mask": randn(rng, 3, 5)}
    assert_runs_like(pulsar.load(m).run(feeds), ort_run(m, feeds))
