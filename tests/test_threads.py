"""Shared models under threads: N threads x M runs of one compiled model (and of one pulsed, windowed
or wake-word pipeline, a session per thread) give exactly the outputs of a single-threaded run.
The single-threaded outputs are themselves checked against onnxruntime where it can run the model.
"""
import threading

import numpy as np
import pytest
from onnx import helper

import pulsar
from pulsar import streaming
from models import init, model, tensor
from reference import ort_run
from shared_data import model_path

THREADS = 8


def conv_gru_model():
    """Conv over time -> Relu -> GRU -> Gemm on the last state: intermediate wires, scratch and
    recurrent state all live in a compiled plan's arenas."""
    rng = np.random.default_rng(0)
    c, h = 6, 5
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Transpose", ["r"], ["t"], perm=[2, 0, 1], name="tr"),
             helper.make_node("GRU", ["t", "W", "R", "B"], ["y", "yh"], hidden_size=h, name="gru"),
             helper.make_node("Squeeze", ["yh", "zero"], ["s"], name="sq"),
             helper.make_node("Gemm", ["s", "G"], ["z"], transB=1, name="fc")]
    inits = [init("w", rng.normal(size=(c, 4, 3)).astype(np.float32)),
             init("b", rng.normal(size=c).astype(np.float32)),
             init("W", rng.normal(size=(1, 3 * h, c)).astype(np.float32) * 0.5),
             init("R", rng.normal(size=(1, 3 * h, h)).astype(np.float32) * 0.5),
             init("B", rng.normal(size=(1, 6 * h)).astype(np.float32) * 0.1),
             init("zero", np.array([0], np.int64)),
             init("G", rng.normal(size=(3, h)).astype(np.float32))]
    return model(nodes, [tensor("x", [1, 4, 40])], [tensor("z", None)], inits)


def hammer(work, threads=THREADS):
    """Run work(k) on `threads` threads at once (released together); re-raise the first error."""
    start, errors, results = threading.Barrier(threads), [], [None] * threads

    def body(k):
        try:
            start.wait()
            results[k] = work(k)
        except BaseException as e:      # noqa: BLE001 - reported below
            errors.append(e)
    pool = [threading.Thread(target=body, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    return results


def assert_shared_model_is_thread_safe(m, feeds_for, runs):
    inputs = [feeds_for(k, i) for k in range(THREADS) for i in range(runs)]
    expected = [m.run(f) for f in inputs]            # single-threaded

    def work(k):
        return [m.run(feeds_for(k, i)) for i in range(runs)]
    got = [outs for per_thread in hammer(work) for outs in per_thread]
    wrong = sum(any(not np.array_equal(a, b, equal_nan=True) for a, b in zip(g, e))
                for g, e in zip(got, expected))
    assert wrong == 0, f"{wrong} of {len(got)} runs differ from the single-threaded run"


def test_one_compiled_model_shared_by_threads_matches_single_threaded_runs():
    proto = conv_gru_model()
    m = pulsar.load(proto, compile=True)
    assert all(where == "compiled" for _, where in m.plan.execution())

    def feeds(k, i):
        return {"x": np.random.default_rng(1000 * k + i).normal(size=(1, 4, 40)).astype(np.float32)}
    np.testing.assert_allclose(m.run(feeds(0, 0))[0], ort_run(proto, feeds(0, 0))[0],
                               rtol=1e-4, atol=1e-5)
    assert_shared_model_is_thread_safe(m, feeds, runs=300)


@pytest.mark.parametrize("name, n", [("DS_CNN_S", 490), ("GRU_S", 250)])
def test_mlkws_compiled_models_shared_by_threads(name, n):
    m = pulsar.load(model_path("mlkws", f"{name}.onnx"), compile=True)

    def feeds(k, i):
        return [np.random.default_rng(1000 * k + i).normal(size=(1, n)).astype(np.float32) * 20]
    assert_shared_model_is_thread_safe(m, feeds, runs=100)


def conv_stream_model():
    rng = np.random.default_rng(2)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[5], strides=[2], name="conv"),
             helper.make_node("Tanh", ["c"], ["y"], name="tanh")]
    return model(nodes, [tensor("x", [1, 2, "S"])], [tensor("y", None)],
                 [init("w", rng.normal(size=(3, 2, 5)).astype(np.float32))])


def test_sessions_of_one_pulsed_model_run_on_their_own_threads():
    pm = streaming.pulse(pulsar.load(conv_stream_model(), compile=True), symbol="S", pulse=8)
    signals = [np.random.default_rng(k).normal(size=(1, 2, 400)).astype(np.float32)
               for k in range(THREADS)]

    def stream(k):
        s = pm.session()
        pieces = [s.push(signals[k][:, :, i:i + 40])[0] for i in range(0, 400, 40)]
        return np.concatenate(pieces + [s.flush()[0]], axis=2)
    expected = [stream(k) for k in range(THREADS)]
    for got, want in zip(hammer(stream), expected):
        np.testing.assert_array_equal(got, want)


def test_window_sessions_share_their_model_across_threads():
    wm = streaming.window(pulsar.load(conv_gru_model(), compile=True), size=40, hop=8, axis=2)
    signals = [np.random.default_rng(k).normal(size=(1, 4, 200)).astype(np.float32)
               for k in range(THREADS)]

    def stream(k):
        s = wm.session()
        return np.concatenate([s.push(signals[k][:, :, i:i + 8])[0] for i in range(0, 200, 8)])
    expected = [stream(k) for k in range(THREADS)]
    for got, want in zip(hammer(stream), expected):
        np.testing.assert_array_equal(got, want)


def test_wake_word_pipeline_sessions_on_threads():
    from pulsar.streaming.wakeword import openwakeword
    ww = openwakeword(model_path("openwakeword", "melspectrogram.onnx"),
                      model_path("openwakeword", "embedding_model.onnx"),
                      {"alexa": model_path("openwakeword", "alexa_v0.1.onnx")})
    rng = np.random.default_rng(3)
    signals = [(rng.normal(size=1280 * 30) * 3000).astype(np.int16) for _ in range(4)]

    def stream(k):
        s = ww.session()
        return np.concatenate([s.push(signals[k][i:i + 1280])["alexa"]
                               for i in range(0, len(signals[k]), 1280)])
    expected = [stream(k) for k in range(4)]
    for got, want in zip(hammer(stream, threads=4), expected):
        np.testing.assert_array_equal(got, want)


def test_one_session_driven_by_two_threads_is_a_typed_error():
    pm = streaming.pulse(pulsar.load(conv_stream_model(), compile=False), symbol="S", pulse=8)
    s = pm.session()
    inside, release = threading.Event(), threading.Event()
    run = s.plan.run

    def slow_run(*args, **kwargs):
        inside.set()
        release.wait(10)
        return run(*args, **kwargs)
    s.plan.run = slow_run
    x = np.zeros((1, 2, 8), np.float32)
    first = threading.Thread(target=s.push, args=(x,))
    first.start()
    assert inside.wait(10)
    try:
        with pytest.raises(pulsar.ConcurrencyError, match="another thread"):
            s.push(x)
    finally:
        release.set()
        first.join()
    assert s.push(x)[0].shape[0] == 1       # usable again once the first push returned
