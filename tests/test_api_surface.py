"""The public surface: what `dir(pulsar)` shows, docstrings, `run(outputs=...)`, stage checks."""
import numpy as np
import pytest

import pulsar
from reference import ort_run
from models import add_mul
from pulsar import streaming


def test_dir_lists_the_public_api():
    names = dir(pulsar)
    for name in ("load", "Model", "streaming", "audio", "PulsarError", "AudioError"):
        assert name in names
    assert set(pulsar.__all__) <= set(names)


def test_public_classes_have_docstrings():
    from pulsar import audio
    classes = [pulsar.Model, *(getattr(streaming, n) for n in streaming.__all__),
               *(getattr(audio, n) for n in audio.__all__ if n[0].isupper() and n != "DEFAULT_VAD_FILE")]
    assert [c.__name__ for c in classes if not (c.__doc__ or "").strip()] == []


def test_run_selects_outputs_by_name():
    proto = add_mul()
    model = pulsar.load(proto.SerializeToString())
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    names = [o.name for o in model.outputs]
    expected = ort_run(proto, {"x": x, "y": x}, names)
    got = model.run({"x": x, "y": x}, outputs=[names[-1]])
    assert len(got) == 1
    np.testing.assert_allclose(got[0], expected[-1])
    with pytest.raises(pulsar.InputError, match="no output"):
        model.run({"x": x, "y": x}, outputs=["nope"])


def test_a_raw_model_in_a_pipeline_says_how_to_make_it_a_stage():
    model = pulsar.load(add_mul().SerializeToString())
    with pytest.raises(pulsar.PulseError, match=r"stage 0 is a Model.*streaming\.pulse"):
        streaming.pipeline(model)
