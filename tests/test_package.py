"""The package as a whole: one version, stated once; every module says what it exports; every environment
variable the project reads is in the README's settings table."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import tomllib

import pytest
from conftest import REPO

import mnistlab

PACKAGE = REPO / "mnistlab"


def test_the_version_is_pyprojects():
    stated = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert mnistlab.__version__ == stated
    elsewhere = [path.name for path in PACKAGE.glob("*.py") if re.search(rf"""["']{re.escape(stated)}["']""",
                                                                         path.read_text(encoding="utf-8"))]
    assert elsewhere == [], f"the version is written again in {elsewhere}: read mnistlab.__version__ instead"


def test_an_uninstalled_checkout_still_has_a_version(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    try:
        assert importlib.reload(mnistlab).__version__ == "0+unknown"
    finally:
        monkeypatch.undo()
        importlib.reload(mnistlab)
    assert mnistlab.__version__ != "0+unknown"


@pytest.mark.parametrize("name", sorted(path.stem for path in PACKAGE.glob("*.py") if not path.stem.startswith("_")))
def test_each_module_says_what_it_exports(name):
    module = importlib.import_module(f"mnistlab.{name}")
    assert hasattr(module, "__all__"), f"mnistlab/{name}.py has no __all__"
    assert len(module.__all__) == len(set(module.__all__)), "a name is listed twice"
    assert [item for item in module.__all__ if not hasattr(module, item)] == [], "__all__ names what is not there"


#: How the project reads an environment variable: Python's os.environ, a mnistlab ``*_ENV`` constant,
#: a shell default (``${NAME:-value}``) and a Makefile default (``NAME ?= value``).
READS = [
    (("mnistlab/*.py", "scripts/*.py", "tests/conftest.py"), r"""environ(?:\.get|\.setdefault)?[(\[]["'](\w+)["']"""),
    (("mnistlab/*.py", "scripts/*.py", "tests/conftest.py"), r"""["'](\w+)["'] (?:not )?in os\.environ"""),
    (("mnistlab/*.py",), r"""^\w+_ENV = ["'](\w+)["']"""),
    (("scripts/*.sh", ".ci/run"), r"\$\{([A-Za-z_]\w*):-"),
    (("Makefile",), r"^(\w+)\s*\?="),
]


def variables_read() -> dict[str, str]:
    """Every environment variable the project reads, with a file that reads it."""
    found = {}
    for patterns, regex in READS:
        for pattern in patterns:
            for path in sorted(REPO.glob(pattern)):
                for variable in re.findall(regex, path.read_text(encoding="utf-8"), flags=re.MULTILINE):
                    found.setdefault(variable, str(path.relative_to(REPO)))
    return found


def test_every_environment_variable_read_is_in_the_readme_settings_table():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Settings (environment variables)\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(\w+)`", section))
    read = variables_read()
    assert {"MNISTLAB_DATA", "MNISTLAB_CACHE", "MNISTLAB_DEVICE", "MNISTLAB_SETUP_BROWSER", "PORT"} <= set(read)
    missing = {variable: path for variable, path in read.items() if variable not in documented}
    assert missing == {}, f"read but not in the README's settings table: {missing}"
