"""Running onnx's official node test cases through pulsar, judged as onnx's runner judges."""
import functools
import warnings

import pytest
from onnx.backend.test.runner import Runner


@functools.lru_cache(maxsize=1)
def all_cases():
    from onnx.backend.test.case.node import collect_testcases
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {c.name: c for c in collect_testcases()}


def cases_for(*op_types):
    """Cases whose (single-node) model uses one of `op_types` at top level."""
    wanted = set(op_types)
    return sorted(name for name, c in all_cases().items()
                  if {n.op_type for n in c.model.graph.node} & wanted)


def conformance_test(cases, known_failing=None, skip_unsupported=False):
    """A test module's `test_conformance`: each of `cases` through pulsar. `known_failing`
    maps case names to why they are expected to fail; `skip_unsupported` skips the cases whose
    expanded function uses an op of another family. Slow: the default tier runs these cases
    through onnx's BackendTest (test_onnx_backend.py)."""
    known_failing = known_failing or {}

    @pytest.mark.slow
    @pytest.mark.parametrize("name", cases)
    def test_conformance(name):
        if name in known_failing:
            pytest.xfail(known_failing[name])
        if not skip_unsupported:
            run_case(name)
            return
        from pulsar.errors import UnsupportedOpError
        try:
            run_case(name)
        except UnsupportedOpError as e:
            pytest.skip(str(e).splitlines()[-1].strip())
    return test_conformance


def run_case(name, compile=False):
    """Raise AssertionError (or a pulsar error) unless pulsar reproduces every data set.
    Returns the number of nodes that ran compiled (always 0 unless `compile`)."""
    from pulsar.backend import prepare
    case = all_cases()[name]
    rep = prepare(case.model, compile=compile)
    compiled = 0
    for inputs, expected in case.data_sets:
        arrays = [_array(x) for x in inputs]
        outputs = rep.run(arrays)
        Runner.assert_similar_outputs([_array(x) for x in expected], list(outputs),
                                      case.rtol, case.atol)
        plan = rep.model.plan_for(arrays)
        compiled = max(compiled, sum(where == "compiled" for _, where in plan.execution()))
    return compiled


def _array(value):
    """Data sets of exotic types (float8, int4, bfloat16) are stored as TensorProto; onnx's
    runner converts them when it reads its .pb files, so do the same."""
    from onnx import TensorProto, numpy_helper
    return numpy_helper.to_array(value) if isinstance(value, TensorProto) else value


def select(backend_test, wanted: set) -> dict:
    """BackendTest's test classes holding only the `wanted` tests (not thousands of skips)."""
    classes = backend_test.test_cases
    for cls in classes.values():
        for attr in [a for a in vars(cls) if a.startswith("test_")]:
            if attr not in wanted:
                delattr(cls, attr)
    return classes


def family_cases(modules, helpers=()) -> list:
    """Cases using an op of `modules` and, Constant aside, nothing beyond `modules + helpers`."""
    from pulsar.ops import registry

    def module_of(op_type):
        cls = registry.lookup("", op_type, 1 << 10)
        return cls.__module__ if cls is not None else None

    names = []
    for name, case in all_cases().items():
        mods = {module_of(n.op_type) for n in case.model.graph.node if n.op_type != "Constant"}
        if mods & set(modules) and mods <= set(modules) | set(helpers):
            names.append(name)
    return sorted(names)
