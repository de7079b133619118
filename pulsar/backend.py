"""pulsar as an `onnx.backend.base.Backend`, so onnx's official `BackendTest` can drive it."""
import numpy as np
from onnx.backend.base import Backend, BackendRep

from .api import load


class PulsarRep(BackendRep):
    def __init__(self, model):
        self.model = model

    def run(self, inputs, **kwargs):
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        return tuple(self.model.run(inputs if isinstance(inputs, dict) else list(inputs)))


class PulsarBackend(Backend):
    @classmethod
    def prepare(cls, model, device="CPU", **kwargs):
        return PulsarRep(load(model, **kwargs))

    @classmethod
    def run_model(cls, model, inputs, device="CPU", **kwargs):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.upper().startswith("CPU")


prepare = PulsarBackend.prepare
run_model = PulsarBackend.run_model
supports_device = PulsarBackend.supports_device
