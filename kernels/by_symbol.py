"""Compiled plan segments may call their kernels by symbol instead of linking a copy of each.

Numba links the code of every jitted function a function calls into the caller's module and
optimises the whole module again. For a kernel calling a small helper that pays (the helper is
inlined into a hot loop), but a plan segment calls dozens of kernels once each: every segment
re-optimised and re-emitted the machine code of every kernel it calls, 60% of its compile
time. A segment's call is instead a declaration of the kernel's symbol, resolved when the
segment's machine code is loaded, against the kernel's machine code already in the process.
Calls from anything else (kernel to kernel) link as before.

The price is an order: a segment's machine code may load only after its kernels' (an unresolved
symbol is a fatal LLVM error, not an exception). A segment compiled here has compiled its
kernels while being typed. A segment loaded from the disk cache first loads its kernels: the
cache entry lists them (`callees`, stored by kernels/numba_cache.py), and `load` compiles or
loads each one and checks it has the symbol the segment names; a kernel recompiled since (its
symbol carries a per-process number) makes the entry a miss, never a crash.

The trade: inlined into a segment, a kernel is specialised for the segment's constant shapes;
called by symbol it is not, and models run slower: squeezenet 1.54x onnxruntime against 1.67x,
and a VAD-like model of small convs and an LSTM cell 25% slower (44 us per chunk against 35),
even when only kernels of 300 LLVM instructions or more were called by symbol: LLVM does
inline and specialise large loops called once with constant sizes. So this is opt-in, for
deployments where compiling costs more than the last 10-25% of speed (a small board compiling
in the background): PULSAR_SHARED_KERNELS=1 (the openWakeWord pipeline's cold compile: 8.6-9.2 s
of CPU instead of 10.3-10.9 s, in one sitting). Kernels then compile to machine code of their
own, not to link-only libraries (link_only.py).

Numba-only: imported by kernels/jit.py once Numba is in use.
"""
import os
import sys
import weakref

from numba.core.imputils import user_function

# the generated functions that call by symbol (pulsar/compiled.py), when chosen
CALLER = "segment" if os.environ.get("PULSAR_SHARED_KERNELS", "").strip() in ("1", "true", "yes") \
    else None

_callees = weakref.WeakKeyDictionary()     # a segment's code library -> [callee, ...]
_keys = {}                                 # kernel entry point -> implementation key


def implementation_key(context, dispatcher, signature, entry):
    """The lowering key for calls of `dispatcher`'s overload `entry`. Not chosen: Numba's own
    (`entry`, which links). Chosen: a key registered here, once, whose implementation calls by
    symbol from segments and links from anywhere else."""
    if CALLER is None:
        return entry
    key = _keys.get(entry)
    if key is None:
        cres = dispatcher.overloads[tuple(signature.args)]
        key = ("pulsar.by_symbol", entry)
        call = _implementation(cres, _callee(dispatcher, cres))
        context._defns[key].append(call, call.signature)
        _keys[entry] = key
    return key


def _callee(dispatcher, cres) -> tuple:
    """What a segment's cache entry stores to find this kernel again in another process."""
    py_func = dispatcher.py_func
    return (py_func.__module__, py_func.__qualname__, tuple(cres.signature.args),
            cres.fndesc.mangled_name)


def _implementation(cres, callee):
    """Numba's own call of a compiled function (`user_function`), given no library to link:
    a segment records the callee instead, any other caller links it as Numba would."""
    call_only = user_function(cres.fndesc, ())

    def call(context, builder, sig, args):
        caller = context.active_code_library
        if caller.name == CALLER:
            _callees.setdefault(caller, []).append(callee)
        else:
            context.add_linking_libs([cres.library])
        return call_only(context, builder, sig, args)

    call.signature = call_only.signature
    return call


def callees(library) -> list:
    """The kernels a compiled segment calls by symbol (none for anything else)."""
    return list(dict.fromkeys(_callees.get(library, ())))


def load(entries) -> None:
    """Compile or load each kernel a cached segment calls, before the segment's machine code
    loads; LookupError when one is missing or now has another symbol (the entry is stale)."""
    for module, qualname, argtypes, symbol in entries:
        owner = sys.modules.get(module)
        kernel = getattr(owner, qualname, None)
        dispatcher = getattr(kernel, "callee", None)
        if dispatcher is None:
            raise LookupError(f"the kernel {module}.{qualname} is not loaded")
        dispatcher.compile(argtypes)
        cres = dispatcher.overloads.get(tuple(argtypes))
        if cres is None or cres.fndesc.mangled_name != symbol:
            raise LookupError(f"{module}.{qualname} was recompiled since this segment was")
