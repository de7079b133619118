"""LSTM/GRU/RNN cases shared by the interpreted and compiled recurrent tests."""
import numpy as np


ATTRIBUTE_CASES = [     # (op, attributes): every non-default attribute at least once
    ("LSTM", {"activations": ["HardSigmoid", "LeakyRelu", "Softsign"],
              "activation_alpha": [0.3, 0.05], "activation_beta": [0.4], "clip": 1.5}),
    ("LSTM", {"input_forget": 1}),
    ("GRU", {"linear_before_reset": 1, "clip": 0.7}),
    ("GRU", {"activations": ["Sigmoid", "Relu", "Sigmoid", "Tanh"]}),
    ("RNN", {"activations": ["Relu"]}),
]


def assert_close(got, want, atol=2e-5):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=atol)
