"""scripts/build_sample.py: it finds the full set as mnistlab does, and rebuilds mnistlab/sample/ byte for byte."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import REPO

from mnistlab import data


@pytest.fixture
def build_sample(tmp_path, monkeypatch):
    """The script as a module, writing into tmp_path/sample instead of mnistlab/sample."""
    spec = importlib.util.spec_from_file_location("build_sample", REPO / "scripts" / "build_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "OUT", tmp_path / "sample")
    return module


@pytest.mark.slow
def test_the_sample_is_rebuilt_byte_for_byte_from_the_folder_mnistlab_finds(build_sample, full_root, monkeypatch,
                                                                            tmp_path, capsys):
    monkeypatch.setenv("MNISTLAB_DATA", str(full_root))  # no folder given: the script asks find_full_root
    monkeypatch.setattr(build_sample, "SHARED_DATA", tmp_path / "nothing-here")
    assert build_sample.main([]) == 0, capsys.readouterr().out
    committed = sorted(path.name for path in data.SAMPLE_DIR.iterdir() if path.is_file())
    assert sorted(path.name for path in (tmp_path / "sample").iterdir()) == committed
    for name in committed:
        assert (tmp_path / "sample" / name).read_bytes() == (data.SAMPLE_DIR / name).read_bytes(), name


def test_without_the_full_set_it_says_where_it_looked(build_sample, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("MNISTLAB_DATA", raising=False)
    monkeypatch.setattr(data, "PROJECT_DATA", None)
    monkeypatch.setattr(build_sample, "SHARED_DATA", tmp_path / "nothing-here")
    assert build_sample.main([]) == 1
    said = capsys.readouterr().out
    assert "no full MNIST found" in said and "MNISTLAB_DATA" in said and "nothing-here" in said
    (tmp_path / "gunzipped" / "MNIST" / "raw").mkdir(parents=True)
    assert build_sample.main([str(tmp_path / "gunzipped")]) == 1
    assert "train-images-idx3-ubyte.gz is missing in" in capsys.readouterr().out
    assert build_sample.main([str(tmp_path)]) == 1  # a folder without MNIST/raw/
    assert "has no MNIST/raw/ folder" in capsys.readouterr().out
    assert not (tmp_path / "sample").exists()
