"""The package's layers (see ``mnistlab.__init__``): no import goes up a layer, none goes round in a cycle.

``check_layers`` reads every ``*.py`` of a package folder with ``ast`` (imports inside functions too) and
lists the problems; the tests run it on mnistlab and on copies of mnistlab with a fault planted.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

import mnistlab

PACKAGE = Path(mnistlab.__file__).resolve().parent

#: The layers, bottom first: a module may import from its own layer (without cycles) and the layers below.
#: A new module goes into one of them (or a new layer); keep the package docstring's list in step.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__", "device", "files"),
    ("data", "models", "checkpoint", "baselines", "history"),
    ("train", "fast", "distributed", "shapes", "bench"),
    ("viz", "widgets", "pad", "exercises"),
    ("cli", "__main__", "doctor", "student", "grade"),
)


def package_imports(path: Path, package: str, modules: set[str]) -> set[str]:
    """The modules of ``package`` that the file at ``path`` imports, anywhere in it.

    ``from .x import y``, ``from . import x``, ``import package.x``, ``from package.x import y`` and
    ``from package import x`` all count as importing ``x``; a name of the package itself that is not a
    module (``from . import __version__``) counts as importing ``__init__``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                head, _, rest = alias.name.partition(".")
                if head == package:
                    found.add(rest.partition(".")[0] or "__init__")
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                head, _, rest = (node.module or "").partition(".")
                if head != package:
                    continue
            else:  # mnistlab is one flat folder: "." is the package itself
                rest = node.module or ""
            if rest:
                found.add(rest.partition(".")[0])
            else:
                found.update(alias.name if alias.name in modules else "__init__" for alias in node.names)
    found.discard(path.stem)
    return found


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other in a circle (each sorted; groups in order)."""
    reach = {name: _reachable(graph, name) for name in graph}
    groups = {tuple(sorted(m for m in graph if m in reach[name] and name in reach[m])) for name in graph}
    return sorted(list(group) for group in groups if group)


def check_layers(folder: Path, layers: Sequence[Sequence[str]] = LAYERS) -> list[str]:
    """Every way the package in ``folder`` breaks ``layers``, one sentence each (an empty list: none)."""
    table = Path(__file__).name
    layer_of = {module: number for number, names in enumerate(layers, start=1) for module in names}
    files = {path.stem: path for path in sorted(folder.glob("*.py"))}
    problems = [f"{folder.name}/{name}.py is in no layer: add it to LAYERS in tests/{table} "
                f"(and to the package docstring)" for name in files if name not in layer_of]
    problems += [f"LAYERS in tests/{table} lists {name}, but there is no {folder.name}/{name}.py: remove it"
                 for name in layer_of if name not in files]
    graph = {name: package_imports(path, folder.name, set(files)) for name, path in files.items()}
    for name, targets in graph.items():
        for target in sorted(targets):
            if target not in files:
                problems.append(f"{folder.name}/{name}.py imports {target}, which is not a module of {folder.name}")
            elif name in layer_of and target in layer_of and layer_of[target] > layer_of[name]:
                problems.append(
                    f"{folder.name}/{name}.py (layer {layer_of[name]}) imports {target} (layer {layer_of[target]}): "
                    f"an import up a layer; move the shared code down, or pass it in from above"
                )
    problems += [f"import cycle: {', '.join(group)} import each other in a circle" for group in _cycles(graph)]
    return problems


def planted_copy(tmp_path: Path, module: str, code: str) -> Path:
    """A copy of mnistlab's modules with ``code`` appended to ``module``.py."""
    copy = tmp_path / "mnistlab"
    copy.mkdir()
    for path in PACKAGE.glob("*.py"):
        shutil.copy(path, copy / path.name)
    target = copy / f"{module}.py"
    target.write_text(target.read_text(encoding="utf-8") + "\n\n" + code, encoding="utf-8")
    return copy


def test_mnistlab_keeps_its_layers():
    assert check_layers(PACKAGE) == []


def test_each_module_is_in_one_layer_and_in_the_package_docstring():
    modules = [name for names in LAYERS for name in names]
    assert len(modules) == len(set(modules))
    assert [name for name in modules if name != "__init__" and f"``{name}``" not in mnistlab.__doc__] == []


@pytest.mark.parametrize(
    "code",
    [
        "def helper():\n    from .train import fit\n    return fit\n",  # function-local, relative
        "from . import train\n",
        "import mnistlab.train\n",
        "from mnistlab.train import fit\n",
        "from mnistlab import train\n",
    ],
)
def test_a_planted_upward_import_is_reported(tmp_path, code):
    problems = check_layers(planted_copy(tmp_path, "device", code))
    assert problems == [
        "mnistlab/device.py (layer 1) imports train (layer 3): an import up a layer; "
        "move the shared code down, or pass it in from above",
        # train imports device and fast, fast imports device: the planted edge also closes circles
        "import cycle: device, fast, train import each other in a circle",
    ]


def test_a_planted_cycle_within_a_layer_is_reported(tmp_path):
    problems = check_layers(planted_copy(tmp_path, "fast", "def helper():\n    from . import train\n"))
    assert problems == ["import cycle: fast, train import each other in a circle"]


def test_a_module_in_no_layer_is_reported(tmp_path):
    copy = planted_copy(tmp_path, "device", "")
    (copy / "lessons.py").write_text("from . import cli\n", encoding="utf-8")
    assert check_layers(copy) == [
        "mnistlab/lessons.py is in no layer: add it to LAYERS in tests/test_layers.py (and to the package docstring)"
    ]
    assert check_layers(copy, LAYERS + (("lessons",),)) == []
