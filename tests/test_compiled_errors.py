"""Bad nodes are refused alike, interpreted and compiled, with a typed error naming the node.

Each case is one onnxruntime refuses too (the independent check that refusing is right);
where pulsar can tell from the facts, it refuses at load time.
"""
import numpy as np
import pytest
from onnx import TensorProto

import pulsar
from models import one_node
from reference import ort_run

F, I64 = TensorProto.FLOAT, TensorProto.INT64
X23 = np.arange(6, dtype=np.float32).reshape(2, 3)

AT_LOAD = {
    "expand_negative_const": (one_node("Expand", [("x", F, [1, 4])], {"s": np.array([3, -4])},
                                       opset=13), {"x": np.ones((1, 4), np.float32)}),
    "layernorm_empty_scale": (one_node("LayerNormalization", [("x", F, [2, 3])],
                                       {"sc": np.zeros(0, np.float32),
                                        "b": np.ones(3, np.float32)}, opset=17),
                              {"x": X23}),
    "relu_extra_input": (one_node("Relu", [("x", F, [2, 3]), ("z", F, [2, 3])], opset=17),
                         {"x": X23, "z": X23}),
    "exp_extra_constant": (one_node("Exp", [("x", F, [2, 3])], {"z": X23}, opset=17),
                           {"x": X23}),
    "add_missing_input": (one_node("Add", [("x", F, [2, 3])], opset=17), {"x": X23}),
}
AT_RUN = {
    "expand_negative_input": (one_node("Expand", [("x", F, [1, 4]), ("s", I64, [2])],
                                       opset=13),
                              {"x": np.ones((1, 4), np.float32), "s": np.array([3, -4])}),
    "gather_index_out_of_range": (one_node("Gather", [("x", F, [2, 3]), ("i", I64, [2])],
                                           axis=1), {"x": X23, "i": np.array([0, 5])}),
    "reshape_wrong_count": (one_node("Reshape", [("x", F, [2, 3]), ("s", I64, [2])]),
                            {"x": X23, "s": np.array([4, 2])}),
}


def ort_refuses(model, feeds) -> bool:
    try:
        ort_run(model, feeds)
    except Exception:
        return True
    return False


@pytest.mark.parametrize("name", sorted(AT_LOAD))
def test_refused_at_load_in_both_paths(name):
    model, feeds = AT_LOAD[name]
    assert ort_refuses(model, feeds)
    messages = []
    for compile in (False, True):
        # schema validation (ModelLoadError) or analysis (InferenceError), both at load
        with pytest.raises((pulsar.ModelLoadError, pulsar.InferenceError)) as caught:
            pulsar.load(model, compile=compile)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert f"({model.graph.node[0].op_type})" in messages[0] and "node '" in messages[0]


@pytest.mark.parametrize("name", sorted(AT_RUN))
def test_refused_at_run_in_both_paths(name):
    model, feeds = AT_RUN[name]
    assert ort_refuses(model, feeds)
    messages = []
    for compile in (False, True):
        loaded = pulsar.load(model, compile=compile)
        with pytest.raises(pulsar.InferenceError) as caught:
            loaded.run(feeds)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    op = model.graph.node[0].op_type
    assert f"node '{op}_0' ({op}) at run time" in messages[0]
