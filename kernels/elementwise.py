"""Elementwise functions NumPy lacks (it has no erf), as flat loops over preallocated outputs."""
from . import scalar
from .jit import jit


@jit
def erf_into(x, out):
    """out[i] = erf(x[i]).

    x, out: 1-D float arrays of one length (float32 or float64; the caller flattens and widens
    float16/bfloat16 first). Written in place: out.
    """
    for i in range(x.shape[0]):
        out[i] = scalar.erf(x[i])


from . import elementwise_numpy  # noqa: E402,F401  (the NumPy twins, registered on import)
