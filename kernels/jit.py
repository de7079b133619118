"""The one place that owns Numba options for every kernel, and when kernels compile.

Options:
- cache=True: compiled machine code is stored on disk, so a second process starts fast; the
  cache is `numba_cache.SafeFunctionCache`, which rebuilds a corrupted entry instead of failing.
- nogil=True: kernels release the GIL, so a streaming session can run beside an audio thread,
  and one model can serve several threads at once.
- fastmath=False: results must agree with onnxruntime to 1e-4; reassociation breaks that on
  long reductions.
- error_model="numpy": division by zero gives inf/nan like NumPy instead of raising.
- boundscheck stays off: callers validate shapes before calling (see pulsar's op `eval`s).

When: a `Kernel` makes its Numba dispatchers on first need, so importing kernels imports no Numba
(two of them: the one Python calls, and `callee`, without Numba's Python entry point, for
compiled callers, which link its code: it has no machine code of its own, link_only.py). Each
is compiled through KernelCompiler (numba_pipeline.py): Numba's pipeline, where a constant
argument prunes the branches it does not take before they are typed.
Compiling one kernel takes a tenth of a second to a second, and a model needs dozens, so a
first output must not wait for them: each kernel may have a NumPy *twin* with the same
signature and semantics (`@jit(twin=...)`; the twins live in the `*_numpy.py` modules, below
their kernels). Under the "auto" policy a call whose argument types have no
machine code yet runs the twin and queues the compile on the background compiler
(kernels/background.py); the next call after it finishes runs machine code. The policy is a
context variable set by pulsar's plans (see `policy`):
- "auto": twin now, compile in the background (the default);
- "interpreted": twins only, never compile (kernels without a twin compile anyway);
- "kernels", "compiled": compile before the call returns (the background compiler's own policy).
"""
import contextlib
import contextvars
import functools
import os
import threading

import numpy as np

OPTIONS = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")
# Kernel parameters compiled per constant value when compiled code passes one (see KernelType):
# an activation code or a transpose flag picks a branch inside the innermost loop, and a
# depthwise conv ran 26% slower with the branch left to run time; a constant activation code
# also compiles only its own function (activation.py, rnn_activation.py).
SPECIALISED = frozenset({"act", "act_f", "act_g", "act_h", "code", "trans_a", "trans_b",
                         "trans"})
POLICIES = ("auto", "interpreted", "kernels", "compiled")

# None: nobody chose; then a plan's tier applies, else the environment's default.
_policy = contextvars.ContextVar("pulsar_kernel_policy", default=None)
_env = os.environ.get("PULSAR_TIER", "").strip().lower()
DEFAULT = _env if _env in POLICIES else "auto"
_lock = threading.RLock()
_numba_ready = False
_extensions = []        # numba_extension hooks not run yet


def jit(fn=None, *, twin=None, prepare=None, **overrides):
    """`fn` as a Kernel with pulsar's options; usable bare or with overrides. `twin`: its NumPy
    twin. `prepare` runs once before the kernel first compiles (e.g. to bind external
    functions)."""
    options = {**OPTIONS, **overrides}
    if fn is None:
        return lambda f: Kernel(f, options, prepare, twin)
    return Kernel(fn, options, prepare, twin)


def helper(fn):
    """A kernel only other kernels call: Numba inlines its code into each caller's before
    typing it (`inline="always"`), so it never compiles on its own. A compile of its own costs
    a fixed 40-60 ms (Numba's pipeline, an LLVM module to optimise, a cache entry), more
    than a helper's code costs each caller. The trade shows in the recurrent cells: their
    `_gemm_acc`, a full copy at each of its 15 call sites, made GRU_S a third faster and
    their kernel tests (many signatures) compile for longer."""
    return jit(fn, inline="always")


@contextlib.contextmanager
def policy(name: str):
    """Within the block (this thread or task), kernels follow `name` (see POLICIES)."""
    if name not in POLICIES:
        raise ValueError(f"unknown kernel policy {name!r}; policies are {', '.join(POLICIES)}")
    token = _policy.set(name)
    try:
        yield
    finally:
        _policy.reset(token)


def set_policy(name: str):
    """Choose `name` for this thread or task until `reset_policy(token)`; returns the token.
    The cheap form of `policy` for hot paths (a plan's run): no context manager."""
    return _policy.set(name)


def reset_policy(token):
    _policy.reset(token)


def current_policy() -> str:
    """The policy in force: the one chosen by an enclosing `policy` block, else the default
    ($PULSAR_TIER, else "auto")."""
    return _policy.get() or DEFAULT


def chosen_policy():
    """The policy chosen by an enclosing `policy` block, or None."""
    return _policy.get()


class Kernel:
    """A Numba-compiled function made on first need, with an optional NumPy twin."""

    def __init__(self, py_func, options, prepare=None, twin=None):
        functools.update_wrapper(self, py_func)
        self.py_func = py_func
        self.options = options
        self.prepare = prepare          # called once, before the first dispatcher is made
        self.twin = twin                # same arguments, same results, in NumPy
        self._dispatcher = None
        self._callee = None
        self._prepared = False
        self._ready = set()             # argument keys with machine code in this process
        self._queued = set()

    @property
    def targetoptions(self):
        """Numba's name for the options: its inliner reads `inline` there (scalar.py)."""
        return self.options

    @property
    def dispatcher(self):
        """The dispatcher Python calls: machine code with Numba's CPython entry point."""
        made = self._dispatcher
        return made if made is not None else self._make(entry_point=True)

    @property
    def callee(self):
        """The dispatcher compiled code calls (kernels, plan segments): no CPython entry point.
        Numba's entry point unboxes every argument, and costs a kernel of a dozen array
        arguments a third of its compile; compiled callers link the function itself, so
        it needs no machine code either (link_only.py). A kernel only plans' segments call
        (the common case) therefore compiles once, to LLVM IR; a kernel Python calls too
        compiles a second time, to machine code (each has cache entries of its own,
        numba_cache.py)."""
        made = self._callee
        return made if made is not None else self._make(entry_point=False)

    def _make(self, entry_point):
        """Make (once, under the lock) the dispatcher `dispatcher` or `callee` returns."""
        with _lock:
            made = self._dispatcher if entry_point else self._callee
            if made is not None:
                return made
            _prepare_numba()
            if not self._prepared:
                if self.prepare is not None:
                    self.prepare()
                self._prepared = True
            import numba

            from .numba_pipeline import KernelCompiler
            options = dict(self.options)
            cache = options.pop("cache", False)
            options.setdefault("pipeline_class", KernelCompiler)
            if not entry_point:
                options["no_cpython_wrapper"] = True
            dispatcher = numba.njit(no_cfunc_wrapper=True, **options)(self.py_func)
            if cache:
                from . import numba_cache
                numba_cache.enable(dispatcher, entry_point)
            if entry_point:
                self._dispatcher = dispatcher
            else:
                self._callee = dispatcher
            self._prepare_callees()     # after: a callee may call this one back
            return dispatcher

    def _prepare_callees(self):
        """Make the dispatchers of the kernels this one calls first: their `prepare` hooks
        (external symbols) must have run before machine code calling them loads from disk."""
        code, names = self.py_func.__code__, self.py_func.__globals__
        for name in code.co_names:
            callee = names.get(name)
            if isinstance(callee, Kernel) and callee is not self:
                callee.callee

    def __call__(self, *args):
        key = arg_key(args)
        if key in self._ready:
            return self._dispatcher(*args)
        return self.run_or_twin(key, args, self.twin)

    def ready(self, args) -> bool:
        """Has machine code for these argument types been compiled or loaded here?"""
        return arg_key(args) in self._ready

    def run_or_twin(self, key, args, twin, priority=1, mode=None):
        """Machine code if ready; else, by policy (`mode`, default the current one), `twin()`
        (queueing a compile under "auto") or a compile now. `twin` takes the same arguments
        as the kernel (None: no twin)."""
        if key in self._ready:
            return self._dispatcher(*args)
        mode = mode or current_policy()
        if twin is not None and mode in ("auto", "interpreted"):
            if mode == "auto":
                self.request(key, args, priority)
            return twin(*args)
        result = self.dispatcher(*args)          # compiles now, or loads the disk cache
        self._ready.add(key)
        return result

    def request(self, key, args, priority=1):
        """Queue a background compile for the types of `args` (once per key)."""
        if key in self._queued:
            return
        self._queued.add(key)
        # Imported here, not at the top: the compiler thread's modules (subprocess, logging)
        # load with the first compile queued, not with the kernels.
        from .background import compiler
        protos = prototypes(key)
        compiler().submit(f"{self.__module__.rsplit('.', 1)[-1]}.{self.__name__}",
                          functools.partial(self.compile_for, key, protos), priority,
                          remote=(self.__module__, self.__qualname__, key))

    def compile_for(self, key, protos):
        """Compile (or load from the disk cache) for the types of `protos`; then mark ready.
        Under the "compiled" policy: what the compile calls compiles too, never queues twins
        (this runs on the background compiler's thread and in the compile process)."""
        import numba
        with policy("compiled"):
            self.dispatcher.compile(tuple(numba.typeof(p) for p in protos))
        self._ready.add(key)

    def __repr__(self):
        return f"<Kernel {self.__module__}.{self.__name__}>"


def arg_key(args) -> tuple:
    """What Numba specialises on, cheaply: array dtype, rank, layout and flags; scalar types."""
    return tuple(_key(a) for a in args)


def _key(a):
    if type(a) is np.ndarray:
        f = a.flags
        return (a.dtype.str, a.ndim, f.c_contiguous, f.f_contiguous, f.writeable, f.aligned)
    if type(a) is tuple:
        return ("tuple",) + tuple(_key(v) for v in a)
    return type(a)


def prototypes(key) -> list:
    """Small values whose Numba types equal those the key was taken from."""
    return [_prototype(k) for k in key]


def _prototype(k):
    if type(k) is tuple and k and k[0] == "tuple":
        return tuple(_prototype(v) for v in k[1:])
    if type(k) is tuple:
        dtype, ndim, c, f, writeable, _aligned = k
        if ndim == 0:
            a = np.zeros((), dtype)
        elif c:
            a = np.zeros((2,) * ndim, dtype)
        elif f:
            a = np.zeros((2,) * ndim, dtype, order="F")
        else:
            a = np.zeros((2,) * (ndim - 1) + (4,), dtype)[..., ::2]
        a.setflags(write=writeable)
        return a
    if k is type(None):
        return None
    return k()


def numba_extension(hook):
    """Decorator: `hook()` teaches Numba how to type or lower a plain function that kernels call
    (scalar.like, the activation switches). The module defining that function registers its
    hook on import, and the hook runs before the next dispatcher is made: Numba still loads
    with the first compile, and this module never imports the modules that import it."""
    _extensions.append(hook)
    return hook


def _prepare_numba():
    """Before a dispatcher is made (under the lock): Numba's view of a Kernel, once, and the
    extensions registered since the last dispatcher."""
    global _numba_ready
    if not _numba_ready:
        _register_kernel_type()
        from . import views_numba  # noqa: F401  (lowers kernels/views.py for generated code)
        _numba_ready = True
    while _extensions:
        _extensions[0]()
        _extensions.pop(0)


def _register_kernel_type():
    """Numba must see a Kernel inside other kernels (and generated code) as its dispatcher."""
    from numba.core import types
    from numba.core.typing.typeof import typeof_impl

    class KernelType(types.Dispatcher):
        """A kernel called from compiled code compiles for the plain types of its arguments,
        not for the constants the caller passes (Numba types a literal `3` as Literal[int](3)):
        one machine code per kernel and layout, shared by every call site, segment and model,
        instead of one per distinct constant (sizes, paddings). Parameters in SPECIALISED keep
        their constant: they select code inside inner loops and take few values."""

        def get_call_type(self, context, args, kws):
            """The signature for these argument types, remembered: Numba asks again at every
            step of type inference, and each answer builds a template class and resolves the
            call among all the kernel's compiled signatures (a segment makes 300 calls)."""
            key = (self, args, tuple(kws.items()))
            known = _signatures.get(key)
            if known is not None:
                return known
            names = self.dispatcher.py_func.__code__.co_varnames
            plain = tuple(a if i < len(names) and names[i] in SPECIALISED else _plain(a)
                          for i, a in enumerate(args))
            plain_kws = {k: v if k in SPECIALISED else _plain(v) for k, v in kws.items()}
            sig = super().get_call_type(context, plain, plain_kws)
            if sig is not None:
                _signatures[key] = sig
            return sig

        def get_impl_key(self, sig):
            entry = super().get_impl_key(sig)
            return by_symbol.implementation_key(self.dispatcher.targetctx, self.dispatcher,
                                                sig, entry)

    _signatures = {}    # (KernelType, argument types, keyword types) -> signature

    def _plain(t):
        """The type a kernel compiles for: no literal value, and arrays typed writable (a
        read-only weight and a writable buffer share machine code; the flag only guards
        stores at typing time, and kernels never store into their inputs)."""
        t = types.unliteral(t)
        if isinstance(t, types.Array) and not t.mutable:
            t = t.copy(readonly=False)
        return t

    from numba.core.boxing import box_pyobject, unbox_dispatcher
    from numba.core.datamodel import models, register_default
    from numba.core.extending import box, unbox
    register_default(KernelType)(models.OpaqueModel)
    unbox(KernelType)(unbox_dispatcher)
    box(KernelType)(box_pyobject)

    from . import by_symbol

    @typeof_impl.register(Kernel)
    def _typeof_kernel(value, context):
        return KernelType(value.callee)
