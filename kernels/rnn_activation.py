"""The gate activations of the recurrent layers (ONNX RNN / GRU / LSTM), over a row of gates.

A gate's activation is `(code, alpha, beta)` of activation.py (pulsar/ops/recurrent.py maps the
ONNX names to them). float32 sigmoid and tanh use the vectorisable approximations of scalar.py
(within 4e-7, the family onnxruntime/MLAS uses); float64 and every other activation are
`apply_activation`'s, in float64.
"""
from . import scalar
from .activation import ACT_SIGMOID, ACT_TANH, apply_activation
from .jit import jit

# the codes of the default gate activations (GRU and LSTM: f = sigmoid, g = h = tanh)
SIGMOID, TANH = ACT_SIGMOID, ACT_TANH


@jit
def apply_rnn_activation(v, code, alpha, beta):
    """In place: v[:] = activation(v) for a 1-D float array `v` (e.g. the view g[b, lo:hi]).

    A 1-D view matters: LLVM vectorises 1-D loops but not the same loop written as buf[row, j].
    """
    fast = v.itemsize == 4
    n = v.shape[0]
    if code == SIGMOID and fast:
        for j in range(n):
            v[j] = scalar.sigmoid_fast(v[j])
    elif code == TANH and fast:
        for j in range(n):
            v[j] = scalar.tanh_fast(v[j])
    elif code == TANH:
        for j in range(n):
            v[j] = scalar.tanh(v[j])
    else:
        for j in range(n):
            v[j] = apply_activation(v[j], code, alpha, beta)


from . import rnn_activation_numpy  # noqa: E402,F401  (the NumPy twins, registered on import)
