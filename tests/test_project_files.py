"""The set-up files say what the README promises."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def requirements() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.txt must pin every package exactly: {line!r}"
            pins[name.lower()] = version
    return pins


def test_every_package_pyproject_names_is_pinned_in_requirements():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    named = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    pins = requirements()
    missing = [d for d in named if re.split(r"[<>=!~ \[]", d, maxsplit=1)[0].lower() not in pins]
    assert missing == [], f"pyproject.toml names packages that requirements.txt does not pin: {missing}"


def test_environment_yml_takes_python_pip_graphviz_from_conda_forge_then_requirements():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    deps = env["dependencies"]
    names = [d.split("=")[0] for d in deps if isinstance(d, str)]
    assert {"python", "pip", "graphviz"} <= set(names)
    pip_sections = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert pip_sections == [["-r requirements.txt"]]


def test_pyproject_states_ranges_not_pins():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = {re.split(r"[<>=!~ ]", d, maxsplit=1)[0]: d for d in project["dependencies"]}
    assert deps["torch"].startswith("torch>=") and "==" not in deps["torch"]
    assert "torchvision" in deps


def test_sample_ships_as_package_data():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["mnistlab"]
    assert "sample/*.gz" in patterns and "sample/manifest.json" in patterns
    assert len(list((REPO / "mnistlab" / "sample").glob("*.gz"))) == 4


def test_every_notebook_is_listed_in_the_readme_course_map():
    readme = (REPO / "README.md").read_text()
    for nb in sorted((REPO / "notebooks").glob("*.ipynb")):
        assert nb.name in readme, f"{nb.name} is missing from the README's course map"


def test_readme_gives_the_two_commands():
    readme = (REPO / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci
