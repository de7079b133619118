"""Seed models for mutation: the onnx package's node tests (`collect_testcases()`: model and
first data set) and the shared real models (random inputs of their declared shapes) if present."""
import functools
import numpy as np
import onnx

SYMBOL_SIZE = 2           # value given to every symbolic dim of a shared model's inputs


@functools.lru_cache(maxsize=None)
def node_seeds() -> tuple:
    """(name, model bytes, {input name: array} or None) for every onnx node test."""
    import warnings
    from onnx.backend.test.case.node import collect_testcases
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases()
    seeds = []
    for case in cases:
        if case.model is None:
            continue
        feeds = None
        if case.data_sets:
            inputs = case.data_sets[0][0]
            inits = {t.name for t in case.model.graph.initializer}
            names = [i.name for i in case.model.graph.input if i.name not in inits]
            if len(inputs) == len(names) and all(isinstance(x, np.ndarray) for x in inputs):
                feeds = dict(zip(names, inputs))
        seeds.append((case.name, case.model.SerializeToString(), feeds))
    return tuple(seeds)


@functools.lru_cache(maxsize=None)
def shared_seeds() -> tuple:
    from shared_data import models_dir
    root = models_dir()
    if not root.is_dir():
        return ()
    seeds = []
    for path in sorted(root.rglob("*.onnx")):
        raw = path.read_bytes()
        seeds.append((f"shared/{path.relative_to(root)}", raw, random_feeds(onnx.load_from_string(raw))))
    return tuple(seeds)


def random_feeds(model, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    feeds = {}
    inits = {t.name for t in model.graph.initializer}
    for vi in model.graph.input:
        if vi.name in inits or not vi.type.HasField("tensor_type"):
            continue
        tt = vi.type.tensor_type
        try:
            dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)
        except Exception:
            continue
        shape = [d.dim_value if d.HasField("dim_value") and 0 <= d.dim_value <= 64 else SYMBOL_SIZE
                 for d in tt.shape.dim]
        feeds[vi.name] = (rng.standard_normal(shape) * 2).astype(dtype)
    return feeds
