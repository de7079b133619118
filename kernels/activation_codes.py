"""The codes of the activations fused into other kernels (conv and gemm epilogues, recurrent
gates), in a module of their own: the kernels (activation.py) and their NumPy twins
(activation_numpy.py) both read them, and pulsar's ops map ONNX attributes to them.

An activation is chosen by an integer code plus two float parameters, so a kernel can take
`act, alpha, beta` as plain arguments and stay a single compiled function. Each code stands for
a scalar function of scalar.py (`CODES`, keyed by its name), whose parameters after x are
`alpha` then `beta`, as many as it takes.
"""
ACT_NONE = 0
ACT_RELU = 1
ACT_LEAKY_RELU = 2
ACT_CLIP = 3
ACT_SIGMOID = 4
ACT_TANH = 5
ACT_HARD_SIGMOID = 6
ACT_LEAKY_RELU_MAX = 7
ACT_AFFINE = 8
ACT_THRESHOLDED_RELU = 9
ACT_SCALED_TANH = 10
ACT_ELU = 11
ACT_SOFTSIGN = 12
ACT_SOFTPLUS = 13
ACT_HARD_SWISH = 14
ACT_SELU = 15

# scalar function (scalar.py) -> code; "" is no activation
CODES = {"": ACT_NONE, "relu": ACT_RELU, "leaky_relu": ACT_LEAKY_RELU, "clip": ACT_CLIP,
         "sigmoid": ACT_SIGMOID, "tanh": ACT_TANH, "hard_sigmoid": ACT_HARD_SIGMOID,
         "leaky_relu_max": ACT_LEAKY_RELU_MAX, "affine": ACT_AFFINE,
         "thresholded_relu": ACT_THRESHOLDED_RELU, "scaled_tanh": ACT_SCALED_TANH,
         "elu": ACT_ELU, "softsign": ACT_SOFTSIGN, "softplus": ACT_SOFTPLUS,
         "hard_swish": ACT_HARD_SWISH, "selu": ACT_SELU}
# Computed in the array's dtype by `bias_activation_span` when their parameters are exact in
# it: a comparison, or one product of two floats, is then the float64 result rounded once.
IN_DTYPE = (ACT_RELU, ACT_LEAKY_RELU, ACT_LEAKY_RELU_MAX, ACT_CLIP)
