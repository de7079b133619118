"""Code libraries of kernels only compiled code calls: optimised IR to link, no machine code.

A kernel's `callee` dispatcher (jit.py) exists to be linked: every caller, a plan segment or
another kernel, links the callee's optimised LLVM module into its own and emits machine code
for the whole. Numba still emitted machine code for each callee library on its own, which
nothing ever ran: 0.6 s of the openWakeWord pipeline's cold compile. A LinkOnlyLibrary is
finalised (linked and optimised) like Numba's, then stops; its cache entry holds the module
to link, not object code.

Loop strength reduction runs on the module after Numba's optimisation. Numba's machine code
emission used to run it, with the rest of LLVM's code generation passes, on the callee's
module in place, before any caller linked it; callers re-optimise what they link, and linked
without it their loops came out 1-3% slower (DS_CNN_S, the openWakeWord classifiers, A/B
alternated). With it they run as fast as before, for 8 ms a kernel instead of the 20-40 ms
its machine code took.

One thing still reaches the execution engine: the kernel's environment pointer (a global
Numba fills in right after compiling, and again after loading from the cache), defined alone
in a module of its own.

Not used when segments call kernels by symbol (PULSAR_SHARED_KERNELS, by_symbol.py): those
run the callee's own machine code (`USED`).
Numba-only: imported by kernels/numba_pipeline.py and kernels/numba_cache.py.
"""
import inspect

import llvmlite.binding as ll
import llvmlite.ir as llvmir
from numba.core.codegen import JITCodeLibrary
from numba.core.compiler import CompileResult

from . import by_symbol

# Whether kernels' callee dispatchers compile to link-only libraries in this process (the
# compile pipeline and the cache's file names both follow it).
USED = by_symbol.CALLER is None
KIND = "pulsar-link-only"
_ENV_PREFIX = "_ZN08NumbaEnv"


class LinkOnlyLibrary(JITCodeLibrary):
    """A code library other libraries link, never run."""

    def _optimize_final_module(self):
        """Numba's optimisation, then loop strength reduction, which Numba's machine code
        emission used to run on the module callers linked (see the module docstring)."""
        super()._optimize_final_module()
        builder = self._codegen._pass_builder()
        passes = ll.create_new_module_pass_manager()
        passes.add_loop_strength_reduce_pass()
        passes.run(self._final_module, builder)

    def _finalize_final_module(self):
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self._define_environments()
        self._finalized = True

    def _define_environments(self):
        """Define the module's environment globals in the engine, so Numba can set them."""
        names = [gv.name for gv in self._final_module.global_variables
                 if gv.name.startswith(_ENV_PREFIX) and not gv.is_declaration]
        if not names:
            return
        module = llvmir.Module(name=f"{self.name}.environments")
        pointer = llvmir.IntType(8).as_pointer()
        for name in names:
            gv = llvmir.GlobalVariable(module, pointer, name=name)
            gv.linkage = "common"
            gv.initializer = llvmir.Constant(pointer, None)
        parsed = ll.parse_assembly(str(module))
        parsed.triple = self._final_module.triple
        parsed.data_layout = self._final_module.data_layout
        self._codegen._add_module(parsed)
        self._codegen._engine.finalize_object()

    def serialize_using_object_code(self):
        """The cache's form (Numba asks for object code): the module to link, as bitcode."""
        self._ensure_finalized()
        return self.name, KIND, self._get_module_for_linking().as_bitcode()

    @classmethod
    def unserialize(cls, codegen, state):
        name, kind, bitcode = state
        if kind != KIND:
            raise ValueError(f"not a link-only library: {kind!r}")
        library = cls(codegen, name)
        library._final_module = library._shared_module = ll.parse_bitcode(bitcode)
        library._finalize_final_module()
        return library


def rebuild(target_context, reduced):
    """A CompileResult from a cache entry (`CompileResult._reduce`'s tuple), as Numba's own
    `CompileResult._rebuild` makes it, around a LinkOnlyLibrary; None when the entry holds
    another kind of library."""
    names = list(inspect.signature(CompileResult._rebuild).parameters)[1:]
    fields = dict(zip(names, reduced))
    libdata = fields["libdata"]
    if libdata[1] != KIND:
        return None
    for fn in fields.get("reload_init") or ():
        fn()
    library = LinkOnlyLibrary.unserialize(target_context.codegen(), libdata)
    entry_point = target_context.get_executable(library, fields["fndesc"], fields["env"])
    values = dict(typing_context=target_context.typing_context, target_context=target_context,
                  entry_point=entry_point, typing_error=None, type_annotation=fields["typeann"],
                  signature=fields["signature"], objectmode=fields["objectmode"],
                  lifted=fields["lifted"], fndesc=fields["fndesc"], library=library,
                  call_helper=None, environment=fields["env"], metadata=None,
                  reload_init=fields.get("reload_init"),
                  referenced_envs=fields.get("referenced_envs"))
    result = CompileResult(**{k: values.get(k) for k in CompileResult._fields})
    for env in fields.get("referenced_envs") or ():
        library.codegen.set_env(env.env_name, env)
    return result
