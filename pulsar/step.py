"""One step of a plan: a node's run function and the slots it reads, writes and frees.

Its own module because both plan.py (which builds steps) and compiled.py (which replaces runs
of them by one compiled step) make them, and plan.py calls compiled.py.
"""


class Step:
    __slots__ = ("node", "run", "ins", "outs", "frees", "scope")

    def __init__(self, node, run, ins, outs, frees, scope):
        self.node, self.run, self.ins, self.outs, self.frees, self.scope = \
            node, run, ins, outs, frees, scope
