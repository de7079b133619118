"""Numba's compiler pipeline for kernels, with two passes of pulsar's.

ConstantArguments: a kernel compiled for a constant argument (an activation code, a transpose
flag: jit.py SPECIALISED) branches on it, e.g. `if act == ACT_RELU: ... elif act == ACT_CLIP:`.
Numba prunes a branch on an argument only when the argument is None or omitted, not when it
is a literal, so every branch was typed and lowered and only LLVM dropped the dead ones: a
conv epilogue compiled six loops to run one (bias_activation_span took 0.41 s to compile,
0.27 s with the pass). A literal integer or boolean argument is replaced by its value before Numba's
dead-branch pass, which then prunes those branches before typing.

LinkOnly: a kernel only compiled code calls gets a code library to link, without machine code
of its own (kernels/link_only.py).

Numba-only: imported by kernels/jit.py when it makes a dispatcher.
"""
from numba.core import ir, types
from numba.core.compiler import CompilerBase, DefaultPassBuilder
from numba.core.compiler_machinery import FunctionPass, LoweringPass, register_pass
from numba.core.typed_passes import AnnotateTypes
from numba.core.untyped_passes import RewriteSemanticConstants

from . import link_only


@register_pass(mutates_CFG=True, analysis_only=False)
class ConstantArguments(FunctionPass):
    """Each argument typed as an integer or boolean literal reads as that constant."""
    _name = "pulsar_constant_arguments"

    def __init__(self):
        FunctionPass.__init__(self)

    def run_pass(self, state):
        func_ir, changed = state.func_ir, False
        for block in func_ir.blocks.values():
            for stmt in block.body:
                if not (isinstance(stmt, ir.Assign) and isinstance(stmt.value, ir.Arg)):
                    continue
                arg_type = state.args[stmt.value.index]
                if not isinstance(arg_type, (types.IntegerLiteral, types.BooleanLiteral)):
                    continue
                const = ir.Const(arg_type.literal_value, loc=stmt.loc)
                definitions = func_ir._definitions[stmt.target.name]
                definitions[:] = [const if d is stmt.value else d for d in definitions]
                stmt.value = const
                changed = True
        return changed


@register_pass(mutates_CFG=False, analysis_only=False)
class LinkOnly(LoweringPass):
    """A compile without Numba's CPython entry point (a kernel's `callee`) lowers into a
    LinkOnlyLibrary, unless segments call kernels by symbol."""
    _name = "pulsar_link_only"

    def __init__(self):
        LoweringPass.__init__(self)

    def run_pass(self, state):
        if state.library is not None or not state.flags.no_cpython_wrapper or \
                not link_only.USED:
            return False
        state.library = link_only.LinkOnlyLibrary(state.targetctx.codegen(),
                                                  state.func_id.func_qualname)
        state.library.enable_object_caching()
        return True


class KernelCompiler(CompilerBase):
    """Numba's nopython pipeline with ConstantArguments before its first dead-branch pass and
    LinkOnly before lowering."""

    def define_pipelines(self):
        pm = DefaultPassBuilder.define_nopython_pipeline(self.state)
        pm.add_pass_after(ConstantArguments, RewriteSemanticConstants)
        pm.add_pass_after(LinkOnly, AnnotateTypes)
        pm.finalize()
        return [pm]
