"""Run fuzz cases in worker processes with resource limits, surviving crashes and hangs.

A worker loads and runs many cases in a row (start-up is the expensive part) and reports each
outcome; if it dies (signal, CPU limit) or misses the wall deadline, the parent records that
case as a crash/hang/memory blow-up, starts a new worker, and carries on with the rest.

Outcomes: "ok", "typed:<error class>", "untyped:<exception> at <file>:<function>", "memory"
(a MemoryError escaped), "crash:<signal>", "hang". For onnxruntime, its own exception classes
(onnxruntime.capi...) count as typed.
"""
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
from multiprocessing.connection import wait
from pathlib import Path

ADDRESS_SPACE = 3 << 30          # bytes per worker
CASE_CPU_SECONDS = 10
CASE_WALL_SECONDS = 15
TESTS = str(Path(__file__).resolve().parents[1])


def _limit(cpu_seconds):
    import resource
    used = resource.getrusage(resource.RUSAGE_SELF)
    used = int(used.ru_utime + used.ru_stime) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (used + cpu_seconds, hard))


def _worker(conn, engine, cpu_seconds):
    import resource
    import warnings
    warnings.simplefilter("ignore")
    quiet = os.open(os.devnull, os.O_WRONLY)      # engines' own chatter would drown the report
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    os.environ["PULSAR_TIER"] = "interpreted"
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass
    run = {"pulsar": _pulsar_case, "onnxruntime": _ort_case, "probe": _probe_case}[engine]
    if engine == "pulsar":
        import pulsar  # noqa: F401  (imported once, not per case)
    elif engine == "onnxruntime":
        import onnxruntime
        onnxruntime.set_default_logger_severity(4)
    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        case_id, raw, feeds = job
        _limit(cpu_seconds)
        conn.send((case_id, run(raw, feeds)))


def _feeds_for(infos, feeds):
    import numpy as np
    from fuzz.seeds import SYMBOL_SIZE
    out = {}
    for name, dtype, shape in infos:
        if feeds and name in feeds:
            out[name] = feeds[name]
        else:
            shape = [d if isinstance(d, int) and 0 <= d <= 64 else SYMBOL_SIZE for d in shape or []]
            out[name] = np.ones(shape, dtype=dtype if dtype is not None else np.float32)
    return out


def _pulsar_case(raw, feeds):
    import pulsar
    try:
        m = pulsar.load(raw)
        infos = [(i.name, i.dtype, i.shape) for i in m.inputs]
        m.run(_feeds_for(infos, feeds))
        return "ok"
    except pulsar.PulsarError as e:
        return f"typed:{type(e).__name__}"
    except MemoryError:
        return "memory"
    except Exception as e:
        return "untyped:" + _kind(e, "pulsar")


def _probe_case(raw, feeds):
    """Misbehaves on request, to test the runner itself."""
    if raw == b"crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    if raw == b"spin":
        while True:
            pass
    try:
        if raw == b"raise":
            {}["missing"]
        return "ok"
    except Exception as e:
        return "untyped:" + _kind(e, "fuzz")


def _ort_case(raw, feeds):
    import numpy as np
    import onnxruntime as ort
    try:
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.log_severity_level = 4
        s = ort.InferenceSession(raw, options, providers=["CPUExecutionProvider"])
        infos = []
        for i in s.get_inputs():
            dtype = _ORT_TYPES.get(i.type)
            infos.append((i.name, dtype, i.shape))
        s.run(None, _feeds_for(infos, feeds))
        return "ok"
    except MemoryError:
        return "memory"
    except Exception as e:
        if type(e).__module__.startswith("onnxruntime"):
            return f"typed:{type(e).__name__}"
        return "untyped:" + _kind(e, "onnxruntime")


_ORT_TYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64",
              "tensor(int32)": "int32", "tensor(bool)": "bool", "tensor(float16)": "float16",
              "tensor(uint8)": "uint8", "tensor(int8)": "int8"}


def _kind(e, package):
    """Exception type and the innermost frame inside `package` (what a bug report needs)."""
    where = "?"
    for frame in traceback.extract_tb(e.__traceback__):
        if f"{os.sep}{package}{os.sep}" in frame.filename or f"{os.sep}kernels{os.sep}" in frame.filename:
            where = f"{Path(frame.filename).name}:{frame.name}"
    return f"{type(e).__name__} at {where}"


class Pool:
    """`n` workers for one engine; `run(cases)` yields (case_id, outcome) as they finish."""

    def __init__(self, engine="pulsar", n=2, wall_seconds=CASE_WALL_SECONDS,
                 cpu_seconds=CASE_CPU_SECONDS):
        self.engine, self.n = engine, n
        self.wall_seconds, self.cpu_seconds = wall_seconds, cpu_seconds
        self.ctx = mp.get_context("spawn")

    def _start(self):
        parent, child = self.ctx.Pipe()
        env_path = os.environ.get("PYTHONPATH", "")
        if TESTS not in sys.path:
            sys.path.insert(0, TESTS)
        os.environ["PYTHONPATH"] = TESTS + (os.pathsep + env_path if env_path else "")
        p = self.ctx.Process(target=_worker, args=(child, self.engine, self.cpu_seconds), daemon=True)
        p.start()
        child.close()
        if not parent.poll(120) or parent.recv() != "ready":
            raise RuntimeError(f"{self.engine} fuzz worker did not start")
        return {"proc": p, "conn": parent, "job": None, "since": 0.0}

    def run(self, cases):
        """cases: iterable of (case_id, model bytes, feeds)."""
        pending = iter(cases)
        workers = [self._start() for _ in range(self.n)]
        busy = 0
        try:
            for w in workers:
                busy += self._give(w, pending)
            while busy:
                ready = wait([w["conn"] for w in workers if w["job"] is not None], timeout=1.0)
                now = time.monotonic()
                for w in list(workers):
                    if w["job"] is None:
                        continue
                    outcome = None
                    if w["conn"] in ready:
                        try:
                            case_id, outcome = w["conn"].recv()
                        except (EOFError, OSError):
                            outcome = self._death(w)
                    elif now - w["since"] > self.wall_seconds:
                        w["proc"].kill()
                        w["proc"].join()
                        outcome = "hang"
                    if outcome is None:
                        continue
                    job = w["job"]
                    w["job"] = None
                    busy -= 1
                    yield job[0], outcome
                    if not w["proc"].is_alive():
                        w["conn"].close()
                        workers[workers.index(w)] = w = self._start()
                    busy += self._give(w, pending)
        finally:
            for w in workers:
                try:
                    w["conn"].send(None)
                except (OSError, BrokenPipeError):
                    pass
                w["proc"].join(5)
                if w["proc"].is_alive():
                    w["proc"].kill()

    def _give(self, w, pending) -> int:
        job = next(pending, None)
        if job is None:
            return 0
        w["job"], w["since"] = job, time.monotonic()
        w["conn"].send(job)
        return 1

    @staticmethod
    def _death(w):
        w["proc"].join(10)
        code = w["proc"].exitcode
        if code == -signal.SIGXCPU:
            return "hang"
        if code == -signal.SIGKILL:
            return "memory"               # the kernel's OOM killer
        try:
            name = signal.Signals(-code).name if code and code < 0 else f"exit {code}"
        except ValueError:
            name = f"exit {code}"
        return f"crash:{name}"


class Worker:
    """One persistent worker for cases submitted one at a time (hypothesis drives those)."""

    def __init__(self, engine="pulsar"):
        self.pool = Pool(engine, 1)
        self.w = None

    def run(self, job) -> str:
        if self.w is None or not self.w["proc"].is_alive():
            self.w = self.pool._start()
        w = self.w
        self.pool._give(w, iter([job]))
        if w["conn"].poll(self.pool.wall_seconds):
            try:
                return w["conn"].recv()[1]
            except (EOFError, OSError):
                return Pool._death(w)
        w["proc"].kill()
        w["proc"].join()
        return "hang"

    def close(self):
        if self.w is not None:
            try:
                self.w["conn"].send(None)
            except OSError:
                pass
            self.w["proc"].join(5)
            if self.w["proc"].is_alive():
                self.w["proc"].kill()
