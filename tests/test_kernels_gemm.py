"""The dot-product kernel for narrow products (compiled convs over a few frames) against
NumPy's float64 product, over shapes that leave every remainder of its 4 x 4 blocks."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pulsar.kernels.gemm import dot_rows


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 13), k=st.integers(1, 40), n=st.integers(1, 13),
       dtype=st.sampled_from([np.float32, np.float64]), strided=st.booleans(),
       seed=st.integers(0, 2**16))
def test_dot_rows_matches_a_float64_product(m, k, n, dtype, strided, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(dtype)
    bt = rng.standard_normal((n, k)).astype(dtype)
    room = np.full((m, 2 * n if strided else n), -7.0, dtype)
    out = room[:, ::2] if strided else room          # out may be any 2-D view
    dot_rows(a, bt, out)
    want = a.astype(np.float64) @ bt.astype(np.float64).T
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol * np.sqrt(k))
    if strided:
        assert (room[:, 1::2] == -7.0).all()       # nothing written between the view's columns
