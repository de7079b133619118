"""Property-based checks for your own models, built on hypothesis.

pulsar promises three things about a model: its outputs have the shapes its symbolic facts
say, its pulsed (streaming) form emits the whole-signal outputs after a known delay, and its
numbers match onnxruntime. These helpers check each promise on random symbol values, random
inputs and random chunkings, so a model's own test suite can keep them (README: "Testing
your own models"). Each helper takes a `pulsar.Model` or anything `pulsar.load` reads, and
hypothesis knobs (`max_examples`, `deadline=None` by default, any other `settings` field).
"""
import numpy as np

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError as error:        # pragma: no cover - depends on the environment
    raise ImportError("pulsar.testing needs hypothesis: pip install hypothesis") from error

from . import dims, pipeline, streaming
from .api import Model, load
from .errors import PulsarError

__all__ = ["symbol_values", "chunkings", "random_inputs", "assert_shapes_follow_facts",
           "assert_stream_matches_batch", "assert_matches_onnxruntime"]

_SPAN = 48      # default range of a symbol above its minimum


# --- strategies -------------------------------------------------------------------------

def symbol_values(model, bounds=None, span: int = _SPAN):
    """Strategy of {symbol: int} for the symbols in `model`'s input shapes.

    Values keep every symbolic dimension of the analysed graph >= 1, so a conv over S
    draws S >= its kernel. `bounds` maps a symbol to `(low, high)` (or just `high`); the
    default range is [minimum, minimum + span].
    """
    model = as_model(model)
    names = sorted(set().union(*(dims.symbols(d) for i in model.inputs for d in i.shape)))
    if not names:
        return st.just({})
    ranges = _symbol_ranges(model, names, bounds or {}, span)
    strategy = st.fixed_dictionaries({n: st.integers(*ranges[n]) for n in names})
    return strategy.filter(lambda values: _sizes_positive(model.graph, values))


def chunkings(total: int, max_chunk: "int | None" = None, max_chunks: int = 40):
    """Strategy of chunk lengths summing to `total`, 0- and 1-length chunks included.

    Chunks are at most `max_chunk` (default `total`) except the last, which takes what
    `max_chunks - 1` drawn chunks left over."""
    top = max(1, total if max_chunk is None else max_chunk)

    @st.composite
    def draw_chunks(draw):
        chunks, left = [], total
        while left > 0 and len(chunks) < max_chunks - 1:
            n = draw(st.integers(0, min(top, left)))
            chunks.append(n)
            left -= n
        return chunks + [left] if left else chunks
    return draw_chunks()


def random_inputs(model, values: dict, seed: int = 0) -> dict:
    """{input name: array} shaped by the input facts under `values`: floats standard
    normal, integers in [0, 4), booleans fair coins."""
    model = as_model(model)
    rng = np.random.default_rng(seed)
    feeds = {}
    for info in model.inputs:
        shape = tuple(int(dims.evaluate(d, values)) for d in info.shape)
        dtype = np.dtype(info.dtype)
        if dtype.kind == "f":
            feeds[info.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            feeds[info.name] = rng.random(shape) < 0.5
        else:
            feeds[info.name] = rng.integers(0, 4, shape).astype(dtype)
    return feeds


# --- checks -----------------------------------------------------------------------------

def assert_shapes_follow_facts(model, bounds=None, make_inputs=None, max_examples=30,
                               deadline=None, **options):
    """For random symbol values, every output's shape equals its symbolic fact evaluated
    with those values. `make_inputs(values, seed) -> feeds` replaces `random_inputs`."""
    model = as_model(model)
    make = make_inputs or (lambda values, seed: random_inputs(model, values, seed))

    @_settings(max_examples, deadline, options)
    @given(symbol_values(model, bounds), st.integers(0, 2 ** 32 - 1))
    def check(values, seed):
        outputs = model.run(make(values, seed))
        for info, got in zip(model.outputs, outputs):
            want = tuple(dims.evaluate(d, values) for d in info.shape)
            assert got.shape == want, (f"output {info.name!r}: shape {list(got.shape)}, its "
                                       f"fact {info} gives {list(want)} for {values}")
    check()


def assert_stream_matches_batch(model, pulse: int, symbol=None, input=None, axis=None,
                                lengths=None, max_chunk=None, delay=None, rtol=1e-4,
                                atol=1e-4, max_examples=30, deadline=None, **options):
    """A pulsed session fed random chunkings of a random-length signal emits the
    whole-signal outputs after dropping each output's delay.

    The stream is pulsed with `pulsar.streaming.pulse(model, symbol=..., pulse=...)` (or
    `input=`/`axis=`); its flush pads with NaN, so an invalid frame leaking into a valid one
    fails. `lengths`: (low, high) signal lengths in input frames (default: from the shortest
    signal every wire accepts, up to four pulses more). `delay`: the delay you expect (an
    int or one per output; default the stream's own), used to align the outputs.
    """
    model = as_model(model)
    stream = streaming.pulse(model, symbol=symbol, pulse=pulse, input=input, axis=axis)
    batch = pipeline.plan(stream.batch_graph, compile=model.compile)
    delays = _per_output(delay if delay is not None else stream.delay, stream)
    totals = _stream_lengths(stream, pulse, lengths)

    @_settings(max_examples, deadline, options)
    @given(st.sampled_from(totals).flatmap(
        lambda n: st.tuples(st.just(n), chunkings(n, max_chunk or 2 * pulse + 1))),
        st.integers(0, 2 ** 32 - 1))
    def check(case, seed):
        total, chunks = case
        values = stream.bindings(total)
        feeds = _stream_feeds(stream, values, seed)
        expected = batch.run([feeds[w] for w in stream.batch_graph.inputs])
        got = _stream_through(stream, feeds, chunks)
        for o, (want, have) in enumerate(zip(expected, got)):
            _compare_stream_output(stream, o, want, have, delays[o], total, rtol, atol)
    check()


def assert_matches_onnxruntime(model, onnx_model=None, bounds=None, make_inputs=None,
                               rtol=1e-4, atol=1e-5, max_examples=20, deadline=None,
                               **options):
    """pulsar's outputs equal onnxruntime's on random inputs for random symbol values.

    `model` is a path, bytes or `onnx.ModelProto` (loaded both ways), or a `pulsar.Model`
    together with the `onnx_model` it was loaded from. Raises ImportError when onnxruntime
    is not installed."""
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError("assert_matches_onnxruntime needs onnxruntime: "
                          "pip install onnxruntime") from error
    source = onnx_model if onnx_model is not None else model
    if isinstance(source, Model):
        raise TypeError("give the ONNX model too: assert_matches_onnxruntime(pulsar_model, "
                        "onnx_model=path_or_proto)")
    model = as_model(model)
    session = onnxruntime.InferenceSession(_onnx_bytes(source),
                                           providers=["CPUExecutionProvider"])
    make = make_inputs or (lambda values, seed: random_inputs(model, values, seed))

    @_settings(max_examples, deadline, options)
    @given(symbol_values(model, bounds), st.integers(0, 2 ** 32 - 1))
    def check(values, seed):
        feeds = make(values, seed)
        got = model.run(feeds)
        want = session.run(None, feeds)
        for info, g, w in zip(model.outputs, got, want):
            assert g.shape == w.shape, (f"output {info.name!r}: shape {list(g.shape)}, "
                                        f"onnxruntime {list(w.shape)} for {values}")
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol,
                                       err_msg=f"output {info.name!r} for {values}")
    check()


# --- helpers ----------------------------------------------------------------------------

def as_model(model, **load_options) -> Model:
    """`model` itself if it is a `pulsar.Model`, else `pulsar.load(model, ...)`."""
    if isinstance(model, Model):
        return model
    loaded = load(model, **load_options)
    if loaded.graph is None:
        raise ValueError("the model's inputs have no declared shapes: load it with "
                         "inputs={...} so its facts (and symbols) are known")
    return loaded


def _settings(max_examples, deadline, options):
    options = dict(options)
    options.setdefault("suppress_health_check", [HealthCheck.too_slow,
                                                 HealthCheck.data_too_large,
                                                 HealthCheck.filter_too_much])
    return settings(max_examples=max_examples, deadline=deadline, **options)


def _symbolic_dims(graph):
    for fact in graph.facts.values():
        for d in getattr(fact, "shape", None) or ():
            if isinstance(d, dims.Dim):
                yield d


def _sizes_positive(graph, values) -> bool:
    """Every symbolic dim whose symbols all have values is >= 1 (others are data-dependent)."""
    return all(dims.evaluate(d, values) >= 1 for d in _symbolic_dims(graph)
               if dims.symbols(d) <= values.keys())


def _symbol_ranges(model, names, bounds, span) -> dict:
    """(low, high) per symbol: the user's low, raised until every dim the symbol sizes
    (the other symbols held at their highs) is >= 1."""
    given = {n: (bounds[n] if isinstance(bounds.get(n), tuple) else (1, bounds.get(n)))
             for n in names}
    ranges = {}
    for name in names:
        low, high = given[name]
        others = {n: (h if h is not None else given[n][0] + span) for n, (_, h) in given.items()}
        limit = high if high is not None else low + 64 * span
        while low < limit and not _sizes_positive(model.graph, dict(others, **{name: low})):
            low += 1
        ranges[name] = (low, high if high is not None else low + span)
    return ranges


def _stream_lengths(stream, pulse, lengths) -> list:
    """Signal lengths (input frames) in `lengths` = (low, high) that fit the input (an
    input of 10*T takes multiples of 10) and give every whole-signal wire a size; by
    default from the shortest such signal up to four pulses longer."""
    def fits(total):
        try:
            return _sizes_positive(stream.batch_graph, stream.bindings(total))
        except PulsarError:
            return False
    if lengths is None:
        low = next((n for n in range(1, 64 * pulse + 64) if fits(n)), None)
        if low is None:
            raise ValueError(f"no signal of up to {64 * pulse + 63} frames gives every "
                             "wire a size")
        lengths = (low, low + 4 * pulse)
    totals = [n for n in range(lengths[0], lengths[1] + 1) if fits(n)]
    if not totals:
        raise ValueError(f"no signal length in {list(lengths)} fits the stream input")
    return totals


def _stream_feeds(stream, values, seed) -> dict:
    rng = np.random.default_rng(seed)
    feeds = {}
    for w in stream.batch_graph.inputs:
        fact = stream.batch_graph.facts[w]
        if w not in stream.stream_inputs:
            raise ValueError(f"input {w!r} does not stream: only all-stream models are checked")
        shape = tuple(int(dims.evaluate(d, values)) for d in fact.shape)
        feeds[w] = rng.standard_normal(shape).astype(fact.dtype)
    return feeds


def _stream_through(stream, feeds, chunks) -> list:
    """Each output of one session fed `chunks`, flushed with NaN padding."""
    session = stream.session(pad_value=np.nan)
    names = list(stream.stream_inputs)
    parts, start = [[] for _ in stream.graph.outputs], 0
    for n in chunks:
        chunk = {w: np.take(feeds[w], range(start, start + n), axis=stream.stream_inputs[w])
                 for w in names}
        for acc, out in zip(parts, session.push(chunk)):
            acc.append(out)
        start += n
    for acc, out in zip(parts, session.flush()):
        acc.append(out)
    joined = []
    for o, acc in enumerate(parts):
        s = stream.output_streams[o]
        joined.append(acc[-1] if s is None else np.concatenate(acc, axis=s.axis))
    return joined


def _compare_stream_output(stream, o, want, have, delay, total, rtol, atol):
    name = stream.graph.outputs[o]
    s = stream.output_streams[o]
    if s is not None:
        assert stream.output_length(total)[o] == want.shape[s.axis], (
            f"output {name!r}: the stream's length {stream.output_length(total)[o]} for "
            f"{total} input frames, the whole signal has {want.shape[s.axis]}")
        have = np.take(have, range(delay, have.shape[s.axis]), axis=s.axis)
    assert have.shape == want.shape, (f"output {name!r}: streamed shape {list(have.shape)} "
                                      f"after a delay of {delay}, whole-signal "
                                      f"{list(want.shape)} ({total} input frames)")
    np.testing.assert_allclose(have, want, rtol=rtol, atol=atol,
                               err_msg=f"output {name!r}, {total} input frames")


def _per_output(delay, stream) -> list:
    n = len(stream.graph.outputs)
    return [int(delay)] * n if np.ndim(delay) == 0 else [int(d) for d in delay]


def _onnx_bytes(source) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    if hasattr(source, "SerializeToString"):
        return source.SerializeToString()
    with open(source, "rb") as f:
        return f.read()
