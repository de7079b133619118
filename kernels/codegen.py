"""Generated Numba kernels for fused elementwise expressions.

An expression is Python-like text over inputs x0..xN, float constants and the functions in
FUNCTIONS, e.g. `max(leaky_relu(x0, 0.2), -0.4)`. `kernel_for` turns it into a flat loop
`kernel(out, x0, ..., xN)` over 1-D contiguous arrays of one dtype, one statement per tree node.

The source goes to `<cache dir>/fused_<hash>.py` (`$PULSAR_CACHE_DIR`, else
~/.cache/pulsar/kernels) and is imported from there: Numba's `cache=True` keys its machine-code
cache on that file's path and timestamp, so a file is written once and never rewritten, and a
second process loads the compiled kernel instead of compiling it again.
Every constant is written `T(value)` with T the dtype, because Numba types `float32 * 0.2` as
float64: the kernel computes in the input dtype, as the unfused NumPy ops do.
"""
import ast
import functools
import hashlib
import logging
import os
import stat
import sys
import tempfile
import types
from pathlib import Path


# name -> (arity, statements). {a} {b} {c}: operands (temps or T(...) constants), {t}: the
# node's result, {u}: a scratch temp. max/min/clip propagate NaN like np.maximum/np.minimum.
FUNCTIONS = {
    "relu": (1, ["{t} = {a} if {a} > T(0) or {a} != {a} else T(0)"]),
    "leaky_relu": (2, ["{t} = {a} if {a} >= T(0) else {a} * {b}"]),
    "sigmoid": (1, ["{u} = T(np.exp(-abs({a})))",           # exp of a negative: no overflow
                    "{t} = T(1) / (T(1) + {u}) if {a} >= T(0) else {u} / (T(1) + {u})"]),
    "hard_sigmoid": (3, ["{u} = {b} * {a} + {c}",
                         "{t} = {u} if {u} != {u} else min(max({u}, T(0)), T(1))"]),
    "softplus": (1, ["{u} = T(np.log1p(np.exp(-abs({a}))))",
                     "{t} = ({a} if {a} > T(0) else T(0)) + {u}"]),
    "clip": (3, ["{t} = {a} if {a} != {a} else min(max({a}, {b}), {c})"]),
    "max": (2, ["{t} = {a} if {a} > {b} or {a} != {a} else {b}"]),
    "min": (2, ["{t} = {a} if {a} < {b} or {a} != {a} else {b}"]),
    "pow": (2, ["{t} = T(np.power({a}, {b}))"]),
    "neg": (1, ["{t} = -{a}"]),
    "abs": (1, ["{t} = abs({a})"]),
    "reciprocal": (1, ["{t} = T(1) / {a}"]),
    "tanh": (1, ["{t} = T(np.tanh({a}))"]),
    "exp": (1, ["{t} = T(np.exp({a}))"]),
    "log": (1, ["{t} = T(np.log({a}))"]),
    "sqrt": (1, ["{t} = T(np.sqrt({a}))"]),
    "erf": (1, ["{t} = T(math.erf({a}))"]),
}
OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
DTYPES = {"float32": "np.float32", "float64": "np.float64"}
NAMED_CONSTANTS = {"inf": "np.inf", "nan": "np.nan"}
log = logging.getLogger("pulsar.cache")


_DIGEST = None


def kernels_digest() -> str:
    """A hash of the kernels' sources (every module of this package): generated code and
    Numba's cache entries name it, so editing any kernel never reuses stale machine code."""
    global _DIGEST
    if _DIGEST is None:
        h = hashlib.sha256()
        for path in sorted(Path(__file__).parent.glob("*.py")):
            h.update(path.read_bytes())
        _DIGEST = h.hexdigest()[:16]
    return _DIGEST


def cache_dir() -> Path:
    """The directory generated sources live in: `$PULSAR_CACHE_DIR`, else ~/.cache/pulsar/kernels;
    a private temporary directory (with one warning) when that one is unusable."""
    wanted = Path(os.environ.get("PULSAR_CACHE_DIR") or Path.home() / ".cache" / "pulsar" / "kernels")
    if wanted not in _usable:
        _usable[wanted] = wanted if _prepare(wanted) else _fallback_dir(wanted)
    return _usable[wanted]


_usable = {}            # wanted directory -> directory used (itself or the fallback)
_fallback = []


def _prepare(directory: Path) -> bool:
    """True when `directory` is a real (not symlinked) directory we can write to."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        st = os.lstat(directory)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and os.access(directory, os.W_OK | os.X_OK)


def _fallback_dir(wanted: Path) -> Path:
    if not _fallback:
        _fallback.append(Path(tempfile.mkdtemp(prefix="pulsar-kernels-")))
        log.warning("pulsar: kernel cache directory %s is not a writable directory (set "
                    "PULSAR_CACHE_DIR to change it); using %s for this process", wanted, _fallback[0])
    return _fallback[0]


@functools.lru_cache(maxsize=None)
def kernel_for(expression: str, n_inputs: int, dtype: str):
    """The compiled-on-first-call kernel(out, x0, ..., x{n_inputs-1}) for `expression`, with
    its NumPy twin (codegen_numpy) attached."""
    kernel = load(kernel_source(expression, n_inputs, dtype)).kernel
    if kernel.twin is None:
        kernel.numpy(codegen_numpy.twin_for(expression, n_inputs, dtype))
    return kernel


def kernel_source(expression: str, n_inputs: int, dtype: str) -> str:
    if dtype not in DTYPES:
        raise ValueError(f"fused kernels compute in float32 or float64, not {dtype}")
    body = _Emitter(n_inputs)
    result = body.emit(ast.parse(expression, mode="eval").body)
    params = ", ".join(f"x{i}" for i in range(n_inputs))
    loads = [f"        v{i} = x{i}[i]" for i in range(n_inputs)]
    lines = [f"# generated by pulsar's kernels/codegen.py: {expression} in {dtype}",
             "import math", "", "import numpy as np", "",
             f"from {__package__}.jit import jit", "", f"T = {DTYPES[dtype]}", "", "",
             "@jit", f"def kernel(out, {params}):", "    for i in range(out.shape[0]):",
             *loads, *("        " + s for s in body.statements), f"        out[i] = {result}", ""]
    return "\n".join(lines)


class _Emitter:
    """Walks the expression's syntax tree, one temp per call or operator."""

    def __init__(self, n_inputs):
        self.n_inputs = n_inputs
        self.statements = []
        self.count = 0

    def fresh(self) -> str:
        self.count += 1
        return f"t{self.count}"

    def emit(self, node) -> str:
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return f"T({float(node.value)!r})"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return self.negate(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
            a, b = self.emit(node.left), self.emit(node.right)
            return self.assign([f"{{t}} = {a} {OPERATORS[type(node.op)]} {b}"], {})
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            return self.call(node.func.id, node.args)
        raise ValueError(f"unsupported expression element: {ast.dump(node)}")

    def name(self, name: str) -> str:
        if name in NAMED_CONSTANTS:
            return f"T({NAMED_CONSTANTS[name]})"
        if name.startswith("x") and name[1:].isdigit() and int(name[1:]) < self.n_inputs:
            return f"v{int(name[1:])}"
        raise ValueError(f"unknown name {name!r} (inputs are x0..x{self.n_inputs - 1})")

    def negate(self, operand) -> str:
        if isinstance(operand, ast.Constant) and isinstance(operand.value, (int, float)):
            return f"T({-float(operand.value)!r})"
        if isinstance(operand, ast.Name) and operand.id in NAMED_CONSTANTS:
            return f"T(-{NAMED_CONSTANTS[operand.id]})"
        return self.call("neg", [operand])

    def call(self, fn: str, args) -> str:
        if fn not in FUNCTIONS:
            raise ValueError(f"unknown function {fn!r}")
        arity, template = FUNCTIONS[fn]
        if len(args) != arity:
            raise ValueError(f"{fn} takes {arity} arguments, got {len(args)}")
        operands = dict(zip("abc", (self.emit(a) for a in args)))
        return self.assign(template, operands)

    def assign(self, template, operands) -> str:
        names = {"t": self.fresh(), "u": self.fresh(), **operands}
        self.statements += [s.format(**names) for s in template]
        return names["t"]


def load(source: str, stem: str = "fused"):
    """Import `source` as a module whose file is `<cache dir>/<stem>_<hash>.py`.

    The file exists for Numba's cache (keyed on its path and timestamp); what runs is always
    `source` itself, compiled here under the file's name, and only once the file on disk is
    checked to hold exactly `source`: a truncated, garbage or tampered file, or a symlink, is
    replaced (with a warning) rather than trusted, which also invalidates Numba's cache of it."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    name = f"pulsar_{stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    path = _write_once(cache_dir(), f"{stem}_{digest}.py", source)
    module = types.ModuleType(name)
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)
    sys.modules[name] = module
    return module


def module_named(name: str):
    """A module made by `load`, by its name (`pulsar_<stem>_<digest>`): from sys.modules, or
    in another process (kernels/compile_worker.py) from its file, if it holds the source its
    name promises."""
    if name in sys.modules:
        return sys.modules[name]
    stem, digest = name[len("pulsar_"):].rsplit("_", 1)
    source = (cache_dir() / f"{stem}_{digest}.py").read_text()
    if hashlib.sha256(source.encode()).hexdigest()[:20] != digest:
        raise ImportError(f"the cached source of {name} does not hash to its name")
    return load(source, stem)


def _write_once(directory: Path, filename: str, source: str) -> Path:
    """The file's path, holding `source`. Written under a temporary name and hard-linked into
    place, so a concurrent process never sees half a file and never replaces a finished one
    (which would change its timestamp and invalidate Numba's cache). A bad entry is replaced
    atomically (rename over it); an entry that cannot be replaced moves us to the fallback dir."""
    path = directory / filename
    data = source.encode()
    problem = _check_entry(path, data)
    if problem is None:
        return path
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            if problem == "absent":
                try:
                    os.link(tmp, path)
                except FileExistsError:     # another process won the race: check what it wrote
                    if _check_entry(path, data) is not None:
                        os.replace(tmp, path)
            else:
                log.warning("pulsar: cache entry %s is %s; rebuilding it", path, problem)
                os.replace(tmp, path)      # replaces a symlink itself, never its target
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
    except OSError as e:
        log.warning("pulsar: cannot write cache entry %s (%s)", path, e)
        if _fallback and directory == _fallback[0]:
            return path                    # run from memory; Numba then compiles uncached
        _usable.clear()
        _usable[directory] = _fallback_dir(directory)
        return _write_once(_usable[directory], filename, source)
    return path


def _check_entry(path: Path, data: bytes):
    """None when `path` is a regular file holding exactly `data`, else what is wrong with it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return "absent"
    except OSError as e:
        return "a symlink" if os.path.islink(path) else f"unreadable ({e.strerror or e})"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "not a regular file"
        with os.fdopen(fd, "rb", closefd=False) as f:
            content = f.read(len(data) + 1)
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    finally:
        os.close(fd)
    if content == data:
        return None
    if data.startswith(content):
        return "truncated"
    return "corrupted (its content does not hash to its name)"


from . import codegen_numpy  # noqa: E402  (twins of the generated kernels)
