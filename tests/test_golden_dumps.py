"""Golden plans: the `dump` of a few plans, kept as text in tests/golden/. A change that alters
a plan (a pass, a streaming rule, a fusion) shows up as a text diff to review, as tinygrad's
process-replay diffs do. After reviewing an intended change, rewrite the files with
PULSAR_UPDATE_GOLDEN=1 pytest tests/test_golden_dumps.py
"""
import difflib
import os
from pathlib import Path

import pytest

import pulsar
from pulsar import streaming
from shared_data import model_path

GOLDEN = Path(__file__).parent / "golden"


def pulsed_embedding():
    """openWakeWord's embedding model over its 76-frame window, pulsed 8 frames at a time."""
    m = pulsar.load(model_path("openwakeword", "embedding_model.onnx"),
                    inputs={"input_1": "1,76,32,1"})
    return streaming.pulse(m, input="input_1", axis=1, pulse=8).dump()


def compiled_ds_cnn():
    """ML-KWS DS-CNN (small) as one compiled plan."""
    return pulsar.load(model_path("mlkws", "DS_CNN_S.onnx"), compile=True).dump()


PLANS = {"pulsed_embedding": pulsed_embedding, "compiled_ds_cnn_s": compiled_ds_cnn}


@pytest.mark.parametrize("name", sorted(PLANS))
def test_dump_matches_golden(name):
    text = PLANS[name]().rstrip("\n") + "\n"
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("PULSAR_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"no golden file {path}: run with PULSAR_UPDATE_GOLDEN=1 to write it"
    want = path.read_text()
    if text != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True),
                                            f"golden/{name}.txt", "now"))
        pytest.fail(f"the plan changed; review the diff, then PULSAR_UPDATE_GOLDEN=1:\n{diff}")
