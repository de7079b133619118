"""Where the third-party models and audio live: $PULSAR_MODELS or ../shared next to the repo."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    return REPO.parent / "shared"


def models_dir() -> Path:
    return Path(os.environ.get("PULSAR_MODELS", shared_dir() / "models"))


def audio_dir() -> Path:
    return Path(os.environ.get("PULSAR_AUDIO", shared_dir() / "audio"))


def model_path(*parts) -> Path:
    """Path of a shared model, or skip the test cleanly when the shared folder is absent."""
    path = models_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared model {path} not present")
    return path


def openwakeword_reference():
    """openWakeWord's own per-chunk scores on the shared recordings (../shared/audio/README.md),
    or skip cleanly when absent."""
    import numpy as np
    path = audio_dir() / "openwakeword_reference_scores.npz"
    if not path.exists():
        pytest.skip(f"{path} not present")
    return np.load(path)
