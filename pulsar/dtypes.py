"""ONNX element types <-> NumPy dtypes, and the short names used in dumps and overrides."""
import numpy as np
from onnx import TensorProto, helper

from .errors import OptionError

SHORT_NAMES = {
    "f16": np.float16, "f32": np.float32, "f64": np.float64,
    "i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64,
    "u8": np.uint8, "u16": np.uint16, "u32": np.uint32, "u64": np.uint64,
    "bool": np.bool_, "str": np.object_,
}
_NAME_OF = {np.dtype(v): k for k, v in SHORT_NAMES.items()}


def from_onnx(elem_type: int) -> np.dtype:
    """NumPy dtype of an ONNX element type (strings map to object arrays, as onnx does)."""
    if elem_type == TensorProto.STRING:
        return np.dtype(object)
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, TypeError, ValueError) as e:
        raise OptionError(f"unsupported ONNX element type {elem_type}") from e


def short_name(dtype) -> str:
    dtype = np.dtype(dtype)
    return _NAME_OF.get(dtype, dtype.name)


def parse(text: str) -> np.dtype:
    """Accept short names (`f32`) and NumPy names (`float32`)."""
    text = text.strip()
    if text in SHORT_NAMES:
        return np.dtype(SHORT_NAMES[text])
    try:
        return np.dtype(text)
    except TypeError as e:
        raise OptionError(f"unknown dtype {text!r}; use one of {', '.join(SHORT_NAMES)}") from e
