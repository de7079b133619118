"""pulsar against onnxruntime on a model with symbolic inputs: facts written in the declared
symbols only, evaluated at a few lengths equal to onnxruntime's shapes, values equal."""
import numpy as np
import onnx

import pulsar
from pulsar import dims
from reference import ort_run

LENGTHS = (10, 13, 24)      # slice offsets in test_symbolic_shapes stay within 3 frames of either end


def assert_matches_ort(model, input_shapes, lengths=LENGTHS, seed=0):
    """Load with pulsar, check facts mention only the input symbols, compare with onnxruntime.

    input_shapes: {input name: (dtype, shape)}, shape a tuple of ints and symbol names.
    lengths: ints (values of S) or dicts binding every symbol. Returns the pulsar model.
    """
    loaded = pulsar.load(model)
    declared = {d for _, shape in input_shapes.values() for d in shape if isinstance(d, str)}
    for wire, fact in loaded.graph.facts.items():
        for d in fact.shape:
            extra = dims.symbols(d) - declared
            assert not extra, f"wire {wire!r} has fact {fact} with fresh symbols {extra}"
    rng = np.random.default_rng(seed)
    for env in lengths:
        env = env if isinstance(env, dict) else {"S": env}
        feeds = {name: _random(rng, dtype, tuple(env.get(d, d) for d in shape))
                 for name, (dtype, shape) in input_shapes.items()}
        expected = ort_run(model, feeds)
        got = loaded.run(feeds)
        for info, want, have in zip(loaded.outputs, expected, got):
            shape = tuple(dims.evaluate(d, env) for d in info.shape)
            assert shape == want.shape, f"{info} at {env}: onnxruntime gives {want.shape}"
            assert have.shape == want.shape and have.dtype == want.dtype, (info.name, have, want)
            np.testing.assert_array_equal(have, want, err_msg=f"{info.name} at {env}")
    return loaded


def untyped(name):
    """A graph output without a declared type: onnxruntime and pulsar infer it."""
    return onnx.ValueInfoProto(name=name)


def _random(rng, dtype, shape):
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(-50, 50, size=shape).astype(dtype)
