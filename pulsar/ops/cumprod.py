"""CumProd (opset 26): cumulative product along one axis, CumSum's twin.

`exclusive` shifts the products by one (the first output is 1), `reverse` runs from the end.
Integers multiply in their own dtype and wrap on overflow, like onnx's reference.
"""
from dataclasses import dataclass

import numpy as np

from .base import normalize_axis
from .reduce import CumSum
from .registry import register


def _along(axis: int, ndim: int, index: slice) -> tuple:
    return (slice(None),) * axis + (index,) + (slice(None),) * (ndim - axis - 1)


@register("CumProd", since=26)
@dataclass(frozen=True)
class CumProd(CumSum):
    """Inputs and checks as CumSum: x and a scalar int32/int64 axis."""

    def eval(self, x, axis):
        axis = normalize_axis(int(axis.reshape(-1)[0]), x.ndim)
        work = np.flip(x, axis) if self.reverse else x
        if self.exclusive:      # the product of the elements before: shift in a 1
            head = np.ones_like(work[_along(axis, x.ndim, slice(0, 1))])
            work = np.concatenate((head, work[_along(axis, x.ndim, slice(0, -1))]), axis=axis)
        out = np.cumprod(work, axis=axis, dtype=None if x.dtype == object else x.dtype)
        return (np.ascontiguousarray(np.flip(out, axis)) if self.reverse else out,)
