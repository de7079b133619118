"""Matrix products: MatMul, Gemm, MatMulInteger, QLinearMatMul, Det (Einsum: einsum.py).

GEMM goes through BLAS (np.dot for float32/64); batched products against one 2-D matrix are
flattened into a single GEMM call, which NumPy's batched matmul loop does not do by itself.
"""
import math
from dataclasses import dataclass

import numpy as np

from ..fact import Fact
from ..kernels import gemm
from .base import Op, fail, need_rank
from .broadcast import broadcast_shapes
from .registry import register

QUANT_TYPES = (np.dtype(np.uint8), np.dtype(np.int8))
BLAS_TYPES = (np.dtype(np.float32), np.dtype(np.float64))


def same_dim(a, b) -> bool:
    """False only when both sizes are known and differ (symbolic sizes are checked at run time)."""
    return a == b or not (isinstance(a, int) and isinstance(b, int))


def matmul_shape(a: Fact, b: Fact) -> tuple:
    """Output shape of numpy-style matmul: 1-D operands are promoted, then the axis dropped."""
    if a.rank == 0 or b.rank == 0:
        fail(f"{'A' if a.rank == 0 else 'B'} must have rank >= 1, got {a} and {b}")
    ash = (1,) + a.shape if a.rank == 1 else a.shape
    bsh = b.shape + (1,) if b.rank == 1 else b.shape
    if not same_dim(ash[-1], bsh[-2]):
        fail(f"inner dimensions differ: A {a} has {ash[-1]}, B {b} has {bsh[-2]}")
    batch = broadcast_shapes(ash[:-2], bsh[:-2])
    return batch + ((ash[-2],) if a.rank > 1 else ()) + ((bsh[-1],) if b.rank > 1 else ())


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.matmul; float32/64 products with a matrix or vector on the right go to np.dot (less
    call overhead than the matmul ufunc), [..., M, K] x [K, N] as one [(...*M), K] GEMM."""
    if a.dtype in BLAS_TYPES and b.ndim <= 2:
        if a.ndim <= 2:
            return np.asarray(np.dot(a, b))
        return np.dot(a.reshape(-1, a.shape[-1]), b).reshape(a.shape[:-1] + b.shape[1:])
    out = np.matmul(a, b)
    return out if out.dtype == a.dtype else out.astype(a.dtype)   # bfloat16 comes back as f32


@register("MatMul", since=1)
@dataclass(frozen=True)
class MatMul(Op):
    streams = "follows"
    
    def stream_refusal(self, axis, facts):
        return f"it contracts over the stream axis {axis}" if axis == facts[0].rank - 1 else None
    
    def infer(self, inputs, ctx):
        a, b = inputs
        if a.dtype != b.dtype:
            fail(f"A and B must share one dtype, got {a} and {b}")
        return [Fact(a.dtype, matmul_shape(a, b))]

    def eval(self, a, b):
        return (matmul(a, b),)

    def emit(self, e):
        """[..., M, K] @ [K, N] as one GEMM over the flattened rows."""
        a, b = e.in_facts[0], e.in_facts[1]
        if not gemm.available() or a.dtype not in BLAS_TYPES or a.rank < 2 or b.rank != 2:
            return False
        k, n = b.shape
        rows = math.prod(a.shape[:-1])
        buf = e.buffer(0)
        e.line(f"{e.kernel(gemm.matmul_into)}({e.view(e.ins[0], (rows, k))}, "
               f"{e.view(e.ins[1], (k, n))}, {e.view(buf, (rows, n))})")
        return True


@register("Gemm", since=1)
@dataclass(frozen=True)
class Gemm(Op):
    """Y = alpha * A' B' + beta * C.

    B' is the view B.T when transB: BLAS reads a transposed operand in place (a transpose flag),
    and a pre-transposed contiguous copy of a constant B measured no faster (slower for M = 1,
    where the view turns GEMV into contiguous dot products), so weights are not copied.
    """
    streams = "follows"
    
    def stream_refusal(self, axis, facts):
        return f"it contracts over the stream axis {axis}" if axis != 0 or self.transA else None
    
    alpha: float = 1.0
    beta: float = 1.0
    transA: int = 0
    transB: int = 0
    broadcast: int = 0      # opset < 7 only; C broadcasts unidirectionally either way

    def infer(self, inputs, ctx):
        a, b = inputs[0], inputs[1]
        c = inputs[2] if len(inputs) > 2 else None
        need_rank(a, "A", rank=2)
        need_rank(b, "B", rank=2)
        if a.dtype != b.dtype or (c is not None and c.dtype != a.dtype):
            given = ", ".join(str(f) for f in (a, b, c) if f is not None)
            fail(f"A, B and C must share one dtype, got {given}")
        m, ka = a.shape[::-1] if self.transA else a.shape
        kb, n = b.shape[::-1] if self.transB else b.shape
        if not same_dim(ka, kb):
            fail(f"inner dimensions differ: A {a} (transA={self.transA}) has {ka}, "
                 f"B {b} (transB={self.transB}) has {kb}")
        if c is not None:
            check_unidirectional(c, (m, n))
        return [Fact(a.dtype, (m, n))]

    def eval(self, a, b, c=None):
        at = a.T if self.transA else a
        bt = b.T if self.transB else b
        y = np.dot(at, bt) if a.dtype in BLAS_TYPES else matmul(at, bt)
        if self.alpha != 1.0:
            np.multiply(y, self.alpha, out=y, casting="unsafe")
        if c is not None and self.beta != 0.0:
            np.add(y, c if self.beta == 1.0 else c * self.beta, out=y, casting="unsafe")
        return (y,)

    def emit(self, e):
        a = e.in_facts[0]
        if not gemm.available() or a.dtype not in BLAS_TYPES:
            return False
        c = e.ins[2] if len(e.ins) > 2 else None
        if c is not None and self.beta != 0.0 and self.beta != 1.0:
            value = e.const(2)
            if value is None:
                return False
            c = e.constant(np.ascontiguousarray(value * self.beta, dtype=a.dtype))
        buf = e.buffer(0)
        b, trans_b = e.view(e.ins[1], e.in_facts[1].shape), bool(self.transB)
        weight = e.const(1)
        if trans_b and weight is not None and e.out_facts[0].shape[0] == 1:
            # one row times a transposed constant: GEMV runs faster on the stored transpose
            b, trans_b = e.constant(np.ascontiguousarray(weight.T, dtype=a.dtype)), False
        e.line(f"{e.kernel(gemm.gemm)}({e.view(e.ins[0], a.shape)}, {b}, {buf}, "
               f"{bool(self.transA)}, {trans_b}, {float(self.alpha)!r}, 0.0)")
        if c is not None and self.beta != 0.0:
            e.line(f"np.add({buf}, {c}, {buf})")
        return True


@register("Gemm", since=7)
@dataclass(frozen=True)
class Gemm7(Gemm):
    def __post_init__(self):
        if self.broadcast:
            fail("attribute 'broadcast' was removed in opset 7")


def check_unidirectional(c: Fact, shape: tuple):
    """C must broadcast to `shape` without changing it (ONNX unidirectional broadcasting)."""
    if c.rank > len(shape):
        fail(f"C {c} has more dimensions than the output [{','.join(map(str, shape))}]")
    for have, want in zip(c.shape[::-1], shape[::-1]):
        if have != 1 and not same_dim(have, want):
            fail(f"C {c} does not broadcast to the output [{','.join(map(str, shape))}]")


def zero_point_rows(zp, a: np.ndarray):
    """A per-row zero point/scale [M] applies along A's second-to-last axis."""
    zp = np.asarray(zp)
    return zp.reshape(-1, 1) if zp.ndim == 1 and a.ndim >= 2 and zp.size > 1 else zp


def check_quantized(x: Fact, zp: Fact, what: str):
    if x.dtype not in QUANT_TYPES:
        fail(f"{what} must be uint8 or int8, got {x}")
    if zp is not None and (zp.dtype != x.dtype or zp.rank > 1):
        fail(f"{what}'s zero point must be a {x.dtype} scalar or 1-D tensor, got {zp}")


def int_matmul(a, a_zero, b, b_zero) -> np.ndarray:
    """(A - a_zero) @ (B - b_zero) exactly: float64 BLAS is exact for 8-bit operands."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    if a_zero is not None:
        a -= zero_point_rows(a_zero, a)
    if b_zero is not None:
        b -= b_zero
    return matmul(a, b)


@register("MatMulInteger", since=10)
@dataclass(frozen=True)
class MatMulInteger(Op):
    def infer(self, inputs, ctx):
        a, b, a_zero, b_zero = (list(inputs) + [None, None])[:4]
        check_quantized(a, a_zero, "A")
        check_quantized(b, b_zero, "B")
        return [Fact(np.int32, matmul_shape(a, b))]

    def eval(self, a, b, a_zero=None, b_zero=None):
        return (int_matmul(a, a_zero, b, b_zero).astype(np.int32),)


@register("QLinearMatMul", since=10)
@dataclass(frozen=True)
class QLinearMatMul(Op):
    def infer(self, inputs, ctx):
        a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero = inputs
        check_quantized(a, a_zero, "a")
        check_quantized(b, b_zero, "b")
        for name, s in (("a_scale", a_scale), ("b_scale", b_scale), ("y_scale", y_scale)):
            if s.dtype.kind != "f" or s.rank > 1:
                fail(f"{name} must be a float scalar or 1-D tensor, got {s}")
        if y_zero is None or y_zero.dtype not in QUANT_TYPES:
            fail(f"y_zero_point must be uint8 or int8, got {y_zero}")
        return [Fact(y_zero.dtype, matmul_shape(a, b))]

    def eval(self, a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero):
        acc = int_matmul(a, a_zero, b, b_zero)
        scale = zero_point_rows(a_scale, a) * b_scale / y_scale   # in the scales' own dtype
        y = np.rint(acc * scale + y_zero)
        info = np.iinfo(y_zero.dtype)
        return (np.clip(y, info.min, info.max).astype(y_zero.dtype),)


@register("Det", since=11)
@dataclass(frozen=True)
class Det(Op):
    def infer(self, inputs, ctx):
        x = inputs[0]
        need_rank(x, "X", min_rank=2)
        if x.dtype.kind != "f":
            fail(f"X must be a float tensor, got {x}")
        if not same_dim(x.shape[-1], x.shape[-2]):
            fail(f"X must hold square matrices, got {x}")
        return [Fact(x.dtype, x.shape[:-2])]

    def eval(self, x):
        wide = x.astype(np.float32) if x.dtype.itemsize < 4 else x
        return (np.asarray(np.linalg.det(wide)).astype(x.dtype, copy=False),)
