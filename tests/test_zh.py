"""The Chinese edition (notebooks/zh/) is complete, current, and the English notebooks' code and outputs.

``scripts/build_zh.py`` builds each Chinese notebook from its English notebook and a translation file; these
tests fail, naming the notebook and cell and how to fix it, when a translation is missing or stale, when a
translation leaves out a glossary term, when a Chinese notebook's code or outputs differ from the English, or
when the built notebooks are not what the script makes of the sources.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys

import pytest
from conftest import REPO

spec = importlib.util.spec_from_file_location("build_zh", REPO / "scripts" / "build_zh.py")
build_zh = importlib.util.module_from_spec(spec)
sys.modules["build_zh"] = build_zh  # its dataclass looks itself up there
spec.loader.exec_module(build_zh)

ENGLISH = build_zh.english_notebooks()
IDS = [p.stem for p in ENGLISH]


@pytest.mark.parametrize("english", ENGLISH, ids=IDS)
def test_every_notebook_has_a_complete_current_chinese_twin(english):
    problems = build_zh.problems(english)
    assert not problems, "the Chinese edition is behind the English notebook:\n  " + "\n  ".join(problems)


def _without_markdown_text(nb: dict) -> dict:
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = ""
    ours = nb["metadata"].pop("mnistlab", {})
    ours.pop("language", None), ours.pop("built_from", None)  # what the builder adds
    if ours:
        nb["metadata"]["mnistlab"] = ours
    return nb


@pytest.mark.parametrize("english", ENGLISH, ids=IDS)
def test_chinese_code_and_outputs_are_the_english_ones(english):
    chinese = build_zh.ZH_DIR / english.name
    assert chinese.exists(), f"notebooks/zh/{english.name} is missing: run `python scripts/build_zh.py`"
    en, zh = (json.loads(p.read_text(encoding="utf-8")) for p in (english, chinese))
    assert [c["id"] for c in zh["cells"]] == [c["id"] for c in en["cells"]], (
        f"notebooks/zh/{english.name} has other cells than the English notebook: run `python scripts/build_zh.py`")
    for index, (a, b) in enumerate(zip(en["cells"], zh["cells"], strict=True)):
        if a["cell_type"] == "code":
            assert a == b, (f"notebooks/zh/{english.name} cell {index}: its code or outputs differ from the English "
                            "notebook's; never edit notebooks/zh by hand: run `python scripts/build_zh.py`")
    assert _without_markdown_text(en) == _without_markdown_text(zh)


def test_the_chinese_folder_holds_only_built_notebooks():
    built = {p.name for p in build_zh.ZH_DIR.glob("*.ipynb")}
    assert built == {p.name for p in ENGLISH}, "notebooks/zh/ must hold exactly one twin per English notebook"
    sources = {p.stem for p in build_zh.TRANSLATIONS.glob("*.md")}
    assert sources == {p.stem for p in ENGLISH}


def test_relative_links_of_the_chinese_notebooks_resolve():
    broken = []
    for path in sorted(build_zh.ZH_DIR.glob("*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            if cell["cell_type"] != "markdown":
                continue
            for target in re.findall(r"\]\(([^)\s]+)\)", build_zh.source(cell)):
                if re.match(r"[a-z]+:", target) or target.startswith("#"):
                    continue
                if not (path.parent / target.split("#")[0]).exists():
                    broken.append(f"{path.name} cell {index}: {target}")
    assert not broken, "links to files that do not exist:\n  " + "\n  ".join(broken)


# --- the checks themselves, on a planted notebook ----------------------------------------------------------------


@pytest.fixture
def planted(tmp_path, monkeypatch):
    """A one-notebook course in tmp_path: an English notebook, its translation and its built twin."""
    en_dir = tmp_path / "notebooks"
    zh_dir = en_dir / "zh"
    (zh_dir / "translations").mkdir(parents=True)
    monkeypatch.setattr(build_zh, "REPO", tmp_path)
    monkeypatch.setattr(build_zh, "EN_DIR", en_dir)
    monkeypatch.setattr(build_zh, "ZH_DIR", zh_dir)
    monkeypatch.setattr(build_zh, "TRANSLATIONS", zh_dir / "translations")
    glossary = tmp_path / "GLOSSARY.md"
    glossary.write_text("| English | 中文 | ✓ | Note |\n|---|---|---|---|\n| tensor | 张量 | ✓ | |\n"
                        "| kernel | 核 | | two meanings |\n", encoding="utf-8")
    monkeypatch.setattr(build_zh, "GLOSSARY", glossary)
    monkeypatch.setattr(build_zh.read_glossary, "__defaults__", (glossary,))
    nb = {"cells": [
        {"cell_type": "markdown", "id": "intro", "metadata": {},
         "source": ["# 98 · Tensors\n", "A tensor in [README](../README.md)."]},
        {"cell_type": "code", "id": "code1", "metadata": {}, "execution_count": 1, "source": ["print(1)"],
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}]},
        {"cell_type": "markdown", "id": "end", "metadata": {}, "source": ["Summary: a kernel."]},
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    english = en_dir / "98_demo.ipynb"
    english.write_text(json.dumps(nb), encoding="utf-8")
    build_zh.stub(english)
    path = build_zh.translation_path(english)
    text = path.read_text(encoding="utf-8")
    text = text.replace("# 98 · Tensors\nA tensor in [README](../README.md).",
                        "# 98 · 张量\n[README](../README.md) 中的张量。")
    text = text.replace("Summary: a kernel.", "小结：一个核。")
    path.write_text(text, encoding="utf-8")
    build_zh.main(["98_demo"])
    return english, path


def test_a_complete_planted_translation_passes_and_builds(planted):
    english, _ = planted
    assert build_zh.problems(english) == []
    zh = json.loads((build_zh.ZH_DIR / english.name).read_text(encoding="utf-8"))
    assert build_zh.source(zh["cells"][0]) == "# 98 · 张量\n[README](../../README.md) 中的张量。"  # one folder up
    assert zh["cells"][1] == json.loads(english.read_text(encoding="utf-8"))["cells"][1]


def _edit_english(english, cell_index, text):
    nb = json.loads(english.read_text(encoding="utf-8"))
    nb["cells"][cell_index]["source"] = [text]
    english.write_text(json.dumps(nb), encoding="utf-8")


def test_a_changed_english_cell_makes_its_translation_stale(planted):
    english, path = planted
    _edit_english(english, 2, "Summary: a kernel and a tensor.")
    problems = build_zh.problems(english)
    assert any("cell 2 (id end) is stale" in p and "en-sha" in p and str(path.name) in p for p in problems)
    # --stub brings the new English in beside the old Chinese, and keeps the old hash until a translator updates it
    build_zh.stub(english)
    assert "Summary: a kernel and a tensor." in path.read_text(encoding="utf-8")
    assert any("is stale" in p for p in build_zh.problems(english))


def test_a_cell_without_translation_is_named(planted):
    english, path = planted
    nb = json.loads(english.read_text(encoding="utf-8"))
    nb["cells"].append({"cell_type": "markdown", "id": "new", "metadata": {}, "source": ["A new paragraph."]})
    english.write_text(json.dumps(nb), encoding="utf-8")
    assert any("cell 3 (id new) has no translation" in p for p in build_zh.problems(english))
    build_zh.stub(english)  # the English text as a placeholder: still not a translation
    assert any("cell 3 (id new) is not translated" in p for p in build_zh.problems(english))


def test_an_entry_for_a_removed_cell_is_named(planted):
    english, _ = planted
    nb = json.loads(english.read_text(encoding="utf-8"))
    del nb["cells"][2]
    english.write_text(json.dumps(nb), encoding="utf-8")
    assert any("entry for cell end" in p and "remove it" in p for p in build_zh.problems(english))


def test_a_hand_edited_chinese_notebook_is_named(planted):
    english, _ = planted
    built = build_zh.ZH_DIR / english.name
    nb = json.loads(built.read_text(encoding="utf-8"))
    nb["cells"][1]["outputs"][0]["text"] = ["2\n"]
    built.write_text(json.dumps(nb), encoding="utf-8")
    assert any("is not what the sources build" in p for p in build_zh.problems(english))


def test_a_missing_glossary_term_is_named(planted):
    english, path = planted
    path.write_text(path.read_text(encoding="utf-8").replace("# 98 · 张量\n[README](../README.md) 中的张量。",
                                                             "# 98 · 数组\n[README](../README.md) 中的数组。"),
                    encoding="utf-8")
    build_zh.main(["98_demo"])
    problems = build_zh.problems(english)
    assert problems == [f"98_demo.ipynb cell 0 (id intro): the translation in {path.relative_to(build_zh.REPO)} does "
                        "not use GLOSSARY.md's term for 'tensor' -> 张量"]


def test_the_glossary_rule_reads_whole_words_outside_code():
    glossary = build_zh.read_glossary()
    assert build_zh.glossary_problems("`tensor` and tensorboard", "代码", glossary) == []
    assert build_zh.glossary_problems("Two tensors", "两个数组", glossary) == ["'tensor' -> 张量"]
    assert build_zh.glossary_problems("regularization", "正则化", glossary) == []  # either spelling
    assert build_zh.glossary_problems("pooling", "汇聚层", glossary) == []  # an accepted variant


def test_the_glossary_has_the_terms_the_issue_names():
    terms = {row[2]: row[1] for row in build_zh.read_glossary()}
    for english, chinese in (("tensor", "张量"), ("gradient", "梯度"), ("overfitting", "过拟合"),
                             ("regularisation", "正则化"), ("validation set", "验证集")):
        assert chinese in terms[english]


def test_readme_zh_maps_every_chinese_notebook_with_its_exercises():
    from mnistlab.exercises import exercise_counts

    readme = (REPO / "README_zh.md").read_text(encoding="utf-8")
    counts = exercise_counts(REPO / "notebooks")
    for english in ENGLISH:
        row = next((line for line in readme.splitlines() if f"(notebooks/zh/{english.name})" in line), None)
        assert row is not None, f"README_zh.md's course map lacks notebooks/zh/{english.name}"
        assert row.rstrip(" |").endswith(f"| {counts[english.name]}"), f"{english.name}: exercise count in README_zh.md"
    english = (REPO / "README.md").read_text(encoding="utf-8")
    for name in (p.name for p in ENGLISH):  # the same run time as the English course map
        times = [re.search(rf"^\| \[`{name}`\]\({folder}{name}\) \|.*\| (\d+ s) \| \d+ \|$", text, re.M)
                 for text, folder in ((english, "notebooks/"), (readme, "notebooks/zh/"))]
        assert all(times) and times[0].group(1) == times[1].group(1), f"{name}: run time in README_zh.md"
    assert "make lab-zh" in readme and "make test" in readme
    assert "(README_zh.md)" in (REPO / "README.md").read_text(encoding="utf-8").split("\n## ")[0]
