"""GEMM callable from Numba code: OpenBLAS's cblas_?gemm, the copy NumPy already loaded.

Numba's own `np.dot` needs SciPy; compiled plans need matrix products inside one compiled
function, so this binds the CBLAS symbols of NumPy's bundled OpenBLAS as Numba external
functions. They are resolved by symbol name when machine code is linked (the library is made
visible to LLVM first), which keeps the callers cacheable: no address is baked into them.
`available()` is False when no such library is found (a NumPy built against another BLAS);
compiled plans then leave matrix products to the interpreter.
"""
import glob
import os

import numpy as np

from .jit import jit

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_sgemm = _dgemm = _sgemv = _dgemv = None       # Numba external functions, bound on first compile


def _library():
    """(path, symbol prefix, symbol suffix) of NumPy's OpenBLAS, or None."""
    base = os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs")
    for path in sorted(glob.glob(os.path.join(base, "libscipy_openblas64_*.so"))):
        return path, "scipy_cblas_", "64_"
    return None


def _bind():
    """Make the CBLAS symbols visible to LLVM and to the kernels below (before they compile)."""
    global _sgemm, _dgemm, _sgemv, _dgemv
    found = _library()
    if found is None or _sgemm is not None:
        return
    import llvmlite.binding as llvm
    from numba import types
    path, prefix, suffix = found
    llvm.load_library_permanently(path)
    i = types.int64

    def gemm(t):
        return types.void(i, i, i, i, i, i, t, types.voidptr, i, types.voidptr, i, t,
                          types.voidptr, i)

    def gemv(t):
        return types.void(i, i, i, i, t, types.voidptr, i, types.voidptr, i, t,
                          types.voidptr, i)
    _sgemm, _dgemm, _sgemv, _dgemv = [
        types.ExternalFunction(f"{prefix}{name}{suffix}", sig(t))
        for name, sig, t in (("sgemm", gemm, types.float32), ("dgemm", gemm, types.float64),
                             ("sgemv", gemv, types.float32), ("dgemv", gemv, types.float64))]


_AVAILABLE = _library() is not None


def available() -> bool:
    return _AVAILABLE


if available():
    @jit(prepare=_bind)
    def gemm(a, b, out, trans_a, trans_b, alpha, beta):
        """out = alpha * op(a) @ op(b) + beta * out for C-contiguous 2-D float32/64 arrays;
        op transposes when the flag is set. Shapes are the caller's to validate."""
        m, n = out.shape
        k = a.shape[0] if trans_a else a.shape[1]
        ta = _TRANS if trans_a else _NO_TRANS
        tb = _TRANS if trans_b else _NO_TRANS
        if m == 0 or n == 0:
            return
        if k == 0:
            for i in range(m):
                for j in range(n):
                    out[i, j] *= beta
            return
        if m == 1:      # a row times a matrix: GEMV, several times faster than GEMM here
            _gemv(b, a, out, trans_b == 0, alpha, beta)
        elif n == 1:
            _gemv(a, b, out, trans_a != 0, alpha, beta)     # one compile, literal flag or not
        elif a.itemsize == 4:
            _sgemm(_ROW_MAJOR, ta, tb, m, n, k, np.float32(alpha), a.ctypes, a.shape[1],
                   b.ctypes, b.shape[1], np.float32(beta), out.ctypes, n)
        else:
            _dgemm(_ROW_MAJOR, ta, tb, m, n, k, np.float64(alpha), a.ctypes, a.shape[1],
                   b.ctypes, b.shape[1], np.float64(beta), out.ctypes, n)

    @jit(prepare=_bind)
    def _gemv(mat, vec, out, trans, alpha, beta):
        """out = alpha * op(mat) @ vec + beta * out; vec and out are contiguous vectors in any
        2-D shape, mat C-contiguous as stored (op transposes when `trans`)."""
        t = _TRANS if trans else _NO_TRANS
        r, c = mat.shape
        if mat.itemsize == 4:
            _sgemv(_ROW_MAJOR, t, r, c, np.float32(alpha), mat.ctypes, mat.shape[1], vec.ctypes,
                   1, np.float32(beta), out.ctypes, 1)
        else:
            _dgemv(_ROW_MAJOR, t, r, c, np.float64(alpha), mat.ctypes, mat.shape[1], vec.ctypes,
                   1, np.float64(beta), out.ctypes, 1)

    @jit
    def matmul_into(a, b, out):
        """out (M, N) = a (M, K) @ b (K, N), all C-contiguous."""
        gemm(a, b, out, False, False, 1.0, 0.0)


# Only reassociation (and FMA contraction): it lets LLVM split the dot product into vector
# partial sums. That is the point of this kernel, and it is closer to the exact result than
# BLAS's blocked sums (float64-checked on audio shapes); no other fast-math assumption is made.
@jit(fastmath={"reassoc", "contract"})
def dot_rows(a, bt, out):
    """out (M, N) = a (M, K) @ bt.T for narrow outputs (N of a few to a few tens of columns: a
    conv over a few frames), where OpenBLAS runs at a fraction of its speed: vectorised dot
    products in blocks of four rows by four columns, so each vector loaded from `a` or `bt`
    feeds four products (16 vector partial sums: AVX-512 and NEON have 32 vector registers).
    Against OpenBLAS's Haswell kernels: 2x faster on (257, 512) x 8, 1.6x on (96, 288) x 8,
    about as fast at 64 columns; compiled for Haswell (AVX2) it kept the same lead.
    a and bt C-contiguous; out any 2-D view."""
    M, K = a.shape
    N = bt.shape[0]
    M4, N4 = M - M % 4, N - N % 4
    for m in range(0, M4, 4):
        r0, r1, r2, r3 = a[m], a[m + 1], a[m + 2], a[m + 3]
        for j in range(0, N4, 4):
            c0, c1, c2, c3 = bt[j], bt[j + 1], bt[j + 2], bt[j + 3]
            z = r0.dtype.type(0)
            s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = z
            s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = z
            for k in range(K):
                b0, b1, b2, b3 = c0[k], c1[k], c2[k], c3[k]
                u = r0[k]
                s00 += u * b0
                s01 += u * b1
                s02 += u * b2
                s03 += u * b3
                u = r1[k]
                s10 += u * b0
                s11 += u * b1
                s12 += u * b2
                s13 += u * b3
                u = r2[k]
                s20 += u * b0
                s21 += u * b1
                s22 += u * b2
                s23 += u * b3
                u = r3[k]
                s30 += u * b0
                s31 += u * b1
                s32 += u * b2
                s33 += u * b3
            out[m, j], out[m, j + 1], out[m, j + 2], out[m, j + 3] = s00, s01, s02, s03
            out[m + 1, j], out[m + 1, j + 1], out[m + 1, j + 2], out[m + 1, j + 3] = \
                s10, s11, s12, s13
            out[m + 2, j], out[m + 2, j + 1], out[m + 2, j + 2], out[m + 2, j + 3] = \
                s20, s21, s22, s23
            out[m + 3, j], out[m + 3, j + 1], out[m + 3, j + 2], out[m + 3, j + 3] = \
                s30, s31, s32, s33
    for m in range(M):          # what the blocks left: the last columns, then the last rows
        row = a[m]
        for j in range(N4 if m < M4 else 0, N):
            col = bt[j]
            s = row.dtype.type(0)
            for k in range(K):
                s += row[k] * col[k]
            out[m, j] = s
