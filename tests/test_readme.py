"""Every ```python block of README.md runs, top to bottom in one namespace, in a folder where
each shared model and recording is present under its own file name (the README names them
bare, as a user's working folder would). A block naming a file that is absent skips, and so do
the blocks after it (they build on its names)."""
import re

import pytest

from shared_data import REPO, audio_dir, models_dir

BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)
FILES = re.compile(r"[\"']([\w.-]+\.(?:onnx|wav))[\"']")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme")
    for root in (models_dir(), audio_dir()):
        if root.exists():
            for path in root.rglob("*"):
                if path.suffix in (".onnx", ".wav") and not (folder / path.name).exists():
                    (folder / path.name).symlink_to(path)
    return folder


@pytest.fixture(scope="module")
def state():
    return {"namespace": {"__name__": "readme"}, "broken": None}


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, workdir, state, monkeypatch, capsys):
    if state["broken"] is not None:
        pytest.skip(f"builds on block {state['broken']}, which did not run")
    code = BLOCKS[index]
    missing = [f for f in FILES.findall(code) if not (workdir / f).exists()]
    if missing:
        state["broken"] = index
        pytest.skip(f"needs {', '.join(missing)} (shared data absent)")
    monkeypatch.chdir(workdir)
    try:
        exec(compile(code, f"README.md python block {index}", "exec"), state["namespace"])
    except BaseException:
        state["broken"] = index
        raise
