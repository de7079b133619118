"""The nine "light" real models shipped with onnx, run by onnx's official backend runner."""
import warnings

import onnx.backend.test
import pytest

import pulsar.backend
from conformance import select

pytestmark = pytest.mark.slow

LIGHT = ["bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50",
         "shufflenet", "squeezenet", "vgg19", "zfnet512"]

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    backend_test = onnx.backend.test.BackendTest(pulsar.backend, __name__)
globals().update(select(backend_test, {f"test_{n}_cpu" for n in LIGHT}))
