"""Prose that cannot drift from the numbers beside it.

Every decimal number (``0.25``, ``4.0x``, ``98.7%``) and every percentage (``12%``) in a notebook's markdown,
outside inline and fenced code, must appear as the same number in a text output of a compared code cell of
that notebook (not one marked ``# NBVAL_IGNORE_OUTPUT``), or be listed as a quoted figure with its source in
the notebook's metadata::

    "metadata": {"mnistlab": {"quoted_figures": {"4.01x": "benchmarks/README.md, row 1"}}}

So when an output changes, the sentence that quotes it fails here until it is updated; a figure from the
seed's text, the benchmarks or a formula says where it comes from.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import REPO

from mnistlab.exercises import source_of

# the English notebooks and the Chinese edition built from them (notebooks/zh/): a translation keeps the figures
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted(
    (REPO / "notebooks" / "zh").glob("[0-9][0-9]_*.ipynb"))
IGNORE_MARK = "# NBVAL_IGNORE_OUTPUT"

FENCED = re.compile(r"```.*?```", re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK_TARGET = re.compile(r"\]\([^)]*\)")  # a link's address: (08_mnist_cnn.ipynb), (https://...)
HTML_TAG = re.compile(r"<[^>]+>")
#: a decimal (digits, a point, digits) or a percentage, not inside a longer word or number (v1.2.3, 2.14.1)
FIGURE = re.compile(r"(?<![A-Za-z0-9_.,])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\d+)(%?)(?![\w]*\.\d)(?!\.\d)")
NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")


def figures_in_markdown(text: str) -> list[str]:
    """The decimals and percentages a markdown text states, outside code, links and tags ("98.7%", "0.25")."""
    for pattern in (FENCED, INLINE_CODE, LINK_TARGET, HTML_TAG):
        text = pattern.sub(" ", text)
    found = []
    for match in FIGURE.finditer(text):
        number, percent = match.groups()
        if percent or "." in number:
            found.append(number + percent)
    return found


def _number(figure: str) -> str:
    """The digits of a figure as a comparable string: "98.7%" -> "98.7", "4.01x" -> "4.01", "1,000" -> "1000"."""
    match = NUMBER.search(figure)
    return match.group(0).replace(",", "") if match else figure


def _output_text(output: dict) -> str:
    if output.get("output_type") == "stream":
        text = output.get("text", "")
        return "".join(text) if isinstance(text, list) else text
    data = output.get("data", {})
    parts = []
    for mime in ("text/plain", "text/html", "text/markdown"):
        value = data.get(mime, "")
        parts.append("".join(value) if isinstance(value, list) else value)
    return "\n".join(parts)


def compared_numbers(nb: dict) -> set[str]:
    """Every number printed by the notebook's compared code cells."""
    numbers: set[str] = set()
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or source_of(cell).lstrip().startswith(IGNORE_MARK):
            continue
        for output in cell.get("outputs", []):
            numbers.update(n.replace(",", "") for n in NUMBER.findall(_output_text(output)))
    return numbers


def drift(nb: dict) -> list[str]:
    """Problems: figures in markdown that no compared output prints and no quoted figure explains."""
    quoted = nb.get("metadata", {}).get("mnistlab", {}).get("quoted_figures", {})
    problems = [f"quoted figure {key!r} has no source" for key, source in quoted.items() if not str(source).strip()]
    allowed = compared_numbers(nb) | {_number(key) for key in quoted}
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for figure in figures_in_markdown(source_of(cell)):
            if _number(figure) not in allowed:
                problems.append(f"cell {index}: {figure} is in no compared output and not a quoted figure")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(REPO / "notebooks")) for p in NOTEBOOKS])
def test_every_figure_in_the_prose_is_printed_or_quoted(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    problems = drift(nb)
    assert not problems, (
        f"{path.name}: the prose states figures its outputs do not show. Quote the printed value, print the "
        "number the sentence needs, or list it under metadata.mnistlab.quoted_figures with its source:\n  "
        + "\n  ".join(problems)
    )


def _notebook(markdown: str, output: str, ignored: bool = False, quoted: dict | None = None) -> dict:
    code = ("# NBVAL_IGNORE_OUTPUT\n" if ignored else "") + "print(acc)"
    return {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": [markdown]},
            {"cell_type": "code", "metadata": {}, "source": [code], "execution_count": 1,
             "outputs": [{"output_type": "stream", "name": "stdout", "text": [output]}]},
        ],
        "metadata": {"mnistlab": {"quoted_figures": quoted}} if quoted else {},
    }


def test_a_planted_contradiction_is_caught():
    assert drift(_notebook("The model reaches 97.5% on the test set.", "test accuracy: 97.5%\n")) == []
    planted = drift(_notebook("The model reaches 97.5% on the test set.", "test accuracy: 97.4%\n"))
    assert planted == ["cell 0: 97.5% is in no compared output and not a quoted figure"]
    # a figure printed only by an ignored cell (a timing) does not count
    assert drift(_notebook("It took 1.25 s.", "took 1.25 s\n", ignored=True)) != []
    # a quoted figure needs its source
    assert drift(_notebook("4.01x faster", "", quoted={"4.01x": "benchmarks/README.md, row 1"})) == []
    assert drift(_notebook("4.01x faster", "", quoted={"4.01x": ""})) != []


def test_what_counts_as_a_figure():
    text = ("Section 2. Accuracy 98.7%, loss 0.25, 4.0x faster, 12% of images, 60,000 images, torch 2.14.1, "
            "`lr=0.5` and [release notes](https://x.org/v0.3.html)\n```python\nx = 1.5\n```")
    assert figures_in_markdown(text) == ["98.7%", "0.25", "4.0", "12%"]
    # Chinese prose writes numbers right after a character: they count all the same
    assert figures_in_markdown("准确率为98.7%，损失0.25，快4.0倍") == ["98.7%", "0.25", "4.0"]
