"""The offline classroom install: scripts/install_requirements.sh (what scripts/setup.sh runs) installs from a
wheelhouse with no package index reachable, and says where it installs from.

The wheelhouse here is tiny (two wheels built in the test, one depending on the other) and the editable
project has an in-tree build backend, so the test needs no network and no setuptools in the fresh venv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow

SCRIPT = REPO / "scripts" / "install_requirements.sh"

#: A PEP 660 build backend in ten lines: the editable "wheel" is a .pth file pointing at src/.
BACKEND = '''
import os, zipfile

NAME, VERSION = "mnistlab_probe_course", "0.1"


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    dist_info = f"{NAME}-{VERSION}.dist-info"
    wheel = f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w") as zf:
        zf.writestr(f"{NAME}.pth", os.path.abspath("src") + "\\n")
        zf.writestr(f"{dist_info}/METADATA", f"Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\n")
        zf.writestr(f"{dist_info}/WHEEL",
                    "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
        zf.writestr(f"{dist_info}/RECORD", "")
    return wheel
'''


def write_package(folder: Path, name: str, version: str, depends: list[str]) -> Path:
    """A one-module setuptools project ``name`` whose module says its version."""
    module = name.replace("-", "_")
    (folder / module).mkdir(parents=True)
    (folder / module / "__init__.py").write_text(f"VERSION = {version!r}\n")
    (folder / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{name}"
        version = "{version}"
        dependencies = {json.dumps(depends)}

        [tool.setuptools]
        packages = ["{module}"]
        """))
    return folder


@pytest.fixture(scope="module")
def classroom(tmp_path_factory) -> dict[str, Path]:
    """A tiny wheelhouse, its requirements file, an editable project and a fresh venv (with pip only)."""
    root = tmp_path_factory.mktemp("classroom")
    wheelhouse = root / "wheelhouse"
    sources = [write_package(root / "src-a", "mnistlab-probe-a", "1.2.3", ["mnistlab-probe-b>=2"]),
               write_package(root / "src-b", "mnistlab-probe-b", "2.0.1", [])]
    # The project's venv has setuptools (requirements.txt pins it): the wheels build here, offline.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(wheelhouse), *map(str, sources)], check=True, capture_output=True, timeout=120)
    requirements = root / "requirements.txt"
    requirements.write_text("mnistlab-probe-a==1.2.3  # pulls mnistlab-probe-b from the wheelhouse too\n")
    project = root / "course"
    (project / "src" / "mnistlab_probe_course").mkdir(parents=True)
    (project / "src" / "mnistlab_probe_course" / "__init__.py").write_text("")
    (project / "backend.py").write_text(BACKEND)
    (project / "pyproject.toml").write_text('[build-system]\nrequires = []\nbuild-backend = "backend"\n'
                                            'backend-path = ["."]\n')
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
    return {"root": root, "wheelhouse": wheelhouse, "requirements": requirements, "project": project,
            "python": venv / "bin" / "python"}


def install(classroom: dict[str, Path], wheelhouse: Path, *project: Path,
            requirements: Path | None = None) -> subprocess.CompletedProcess:
    """Run the install script as setup.sh does, without this machine's pip configuration (its local indexes)
    and with an index that refuses every connection."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL="http://127.0.0.1:9/simple", PIP_RETRIES="0",
               PIP_TIMEOUT="2", REQUIREMENTS=str(requirements or classroom["requirements"]),
               WHEELHOUSE=str(wheelhouse))
    return subprocess.run(["bash", str(SCRIPT), str(classroom["python"]), *map(str, project)],
                          capture_output=True, text=True, timeout=120, cwd=classroom["root"], env=env)


def test_installs_from_the_wheelhouse_with_no_index_reachable(classroom):
    result = install(classroom, classroom["wheelhouse"], classroom["project"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"from {classroom['wheelhouse']}/ (2 wheels; offline" in result.stdout
    check = subprocess.run(
        [str(classroom["python"]), "-c",
         "import mnistlab_probe_a as a, mnistlab_probe_b as b, mnistlab_probe_course as c; "
         "print(a.VERSION, b.VERSION, c.__file__)"],
        capture_output=True, text=True, timeout=60, check=True)
    version_a, version_b, course = check.stdout.split()
    assert (version_a, version_b) == ("1.2.3", "2.0.1")  # the dependency came from the wheelhouse too
    assert Path(course).parent == classroom["project"] / "src" / "mnistlab_probe_course"  # editable


def test_without_wheels_it_uses_the_index_and_says_so(classroom, tmp_path):
    empty = tmp_path / "wheelhouse"
    empty.mkdir()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("mnistlab-probe-elsewhere==1.0\n")  # on no index, in no wheelhouse
    result = install(classroom, empty, requirements=requirements)
    assert "from the package index" in result.stdout
    assert result.returncode != 0 and "lacks a wheel" not in result.stderr  # the index refused; no wheelhouse


def test_a_wheelhouse_missing_a_wheel_stops_with_what_to_do(classroom, tmp_path):
    partial = tmp_path / "wheelhouse"
    partial.mkdir()
    for wheel in classroom["wheelhouse"].glob("mnistlab_probe_a-*.whl"):
        (partial / wheel.name).write_bytes(wheel.read_bytes())
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("mnistlab-probe-a==1.2.3\nmnistlab-probe-elsewhere==1.0\n")
    result = install(classroom, partial, requirements=requirements)
    assert result.returncode == 1
    assert "lacks a wheel" in result.stderr and "make wheelhouse" in result.stderr
