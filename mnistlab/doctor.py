"""``python -m mnistlab doctor``: one screen that says whether this machine is ready for the course.

Each check is a small function that returns a ``Check`` (or a list of them): a status, what was
checked, what was found, and what to do when it is not OK. Statuses:

* ``OK``: ready;
* ``INFO``: nothing to fix, worth knowing (the full MNIST is not there: the embedded sample is used);
* ``WARN``: the course runs, something is missing or differs (Graphviz, a version other than the pin);
* ``FAIL``: something the notebooks need is missing or broken. The command exits with status 1.

Nothing here downloads anything or writes outside the cache folder (the writability check creates
that folder and removes its probe file). ``torch`` is imported only by the checks that need it, so
``python -m mnistlab.doctor`` reports a missing or broken PyTorch instead of stopping at the import.

Its length is one job: about fifteen checks, each short, with the version parsing they need.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Check", "OK", "INFO", "WARN", "FAIL", "run_checks", "render", "exit_status", "main",
           "check_python", "check_packages", "check_cpu", "check_device", "check_threads", "check_sample",
           "check_cache", "check_full_mnist", "check_graphviz", "check_widgets", "check_drawing_pad", "check_chinese",
           "check_lab_settings",
           "check_wheelhouse", "cpu_model", "declared_ranges", "installed_version", "machine_flags",
           "normalize_name", "parse_requirement", "pins", "release", "satisfies", "usable_cores"]

OK, INFO, WARN, FAIL = "OK", "INFO", "WARN", "FAIL"
STATUSES = (OK, INFO, WARN, FAIL)

PROJECT = Path(__file__).resolve().parent.parent
#: The course's pins; present in a source checkout only (an installed mnistlab has its ranges instead).
REQUIREMENTS = PROJECT / "requirements.txt"
#: What ``scripts/setup.sh`` copies into the environment (source checkout only).
LAB_SETTINGS_SOURCE = PROJECT / "scripts" / "jupyterlab-overrides.json"
WHEELHOUSE = PROJECT / "wheelhouse"

#: Pinned packages that only ``make test`` (or a maintainer) uses: missing, they are a WARN, not a FAIL.
TEST_ONLY = {"nbval", "nbclient", "nbconvert", "pytest", "pytest-xdist", "ruff", "playwright"}

#: CPU flags of native bf16 arithmetic, and the name of the hardware that provides it.
BF16_HARDWARE = {"amx_bf16": "AMX", "avx512_bf16": "AVX512-BF16"}

SETUP_HINT = "run `make setup` in the project (or: pip install -r requirements.txt)"
GRAPHVIZ_HINT = ("install Graphviz: apt install graphviz / brew install graphviz / conda install -c conda-forge "
                 "graphviz (without it notebook 10 prints the graph's DOT source instead of a picture)")


@dataclass(frozen=True)
class Check:
    """One line of the report: ``status`` of ``name``, what was found (``detail``), what to do (``fix``)."""

    status: str
    name: str
    detail: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")


# ---------------------------------------------------------------- versions


def normalize_name(name: str) -> str:
    """A distribution name as pip compares them: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


#: name, [extras] (skipped), specifiers, ; marker, # comment
_REQUIREMENT = re.compile(
    r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;#]*?)\s*(?:;\s*([^#]*?))?\s*(?:#.*)?$"
)
_SPEC = re.compile(r"^\s*(===|==|!=|<=|>=|~=|<|>)\s*([^\s,]+)\s*$")


def parse_requirement(line: str) -> tuple[str, list[tuple[str, str]], str] | None:
    """``"torch>=2.6; extra == 'x'"`` -> ``("torch", [(">=", "2.6")], "extra == 'x'")``; None for a blank,
    a comment or an option line (``-r``, ``--index-url``)."""
    line = line.strip()
    if not line or line.startswith(("#", "-")):
        return None
    match = _REQUIREMENT.match(line)
    if not match:
        return None
    name, specs_text, marker = match.groups()
    specs = []
    for part in filter(None, (p.strip() for p in specs_text.split(","))):
        spec = _SPEC.match(part)
        if spec:
            specs.append((spec.group(1), spec.group(2)))
    return normalize_name(name), specs, marker or ""


def release(version: str) -> tuple[int, ...]:
    """The numeric release of a version: ``"2.14.1+cpu"`` -> ``(2, 14, 1)``, ``"4.6.0rc1"`` -> ``(4, 6, 0)``."""
    numbers = []
    for part in version.split("+", 1)[0].split("."):
        digits = re.match(r"\d+", part)
        if not digits:
            break
        numbers.append(int(digits.group()))
        if digits.group() != part:  # 0rc1: the release ends here
            break
    while len(numbers) > 1 and numbers[-1] == 0:  # 2.0 == 2.0.0
        numbers.pop()
    return tuple(numbers)


def satisfies(version: str, specs: Iterable[tuple[str, str]]) -> bool:
    """True when ``version`` meets every ``(operator, version)`` spec, compared by numeric release
    (enough for the course's pins and ranges; a local tag such as ``+cpu`` is ignored, as pip does for ``==``)."""
    have = release(version)
    for op, wanted in specs:
        want = release(wanted.rstrip(".*"))
        if op == "~=":
            ok = have >= want and have[: len(want) - 1] == want[:-1]
        else:
            ok = {"==": have == want, "===": version == wanted, "!=": have != want, ">=": have >= want,
                  "<=": have <= want, ">": have > want, "<": have < want}[op]
        if not ok:
            return False
    return True


def pins(requirements: Path) -> dict[str, list[tuple[str, str]]]:
    """The requirements of a requirements file: normalised name -> specs."""
    found = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        parsed = parse_requirement(line)
        if parsed:
            found[parsed[0]] = parsed[1]
    return found


def declared_ranges() -> dict[str, list[tuple[str, str]]]:
    """The version ranges installed mnistlab declares (its dependencies and extras); empty if not installed."""
    try:
        lines = metadata.requires("mnistlab") or []
    except metadata.PackageNotFoundError:
        return {}
    found = {}
    for line in lines:
        parsed = parse_requirement(line)
        if parsed:
            found[parsed[0]] = parsed[1]
    return found


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _spec_text(specs: list[tuple[str, str]]) -> str:
    return ",".join(op + version for op, version in specs) or "any version"


def check_python(version: tuple[int, ...] | None = None, minimum: tuple[int, int] = (3, 10)) -> Check:
    """The interpreter: version against mnistlab's minimum, and where it lives."""
    version = tuple(version or sys.version_info[:3])
    shown = ".".join(map(str, version))
    where = f"{sys.prefix}{', a virtual environment' if sys.prefix != sys.base_prefix else ''}"
    if version[:2] < minimum:
        return Check(FAIL, "python", f"{shown} ({where}); mnistlab needs {'.'.join(map(str, minimum))} or newer",
                     "make the environment with a newer Python: rm -rf .venv, then PYTHON=python3.11 make setup")
    return Check(OK, "python", f"{shown} ({where})")


def check_packages(requirements: Path | None = REQUIREMENTS,
                   ranges: dict[str, list[tuple[str, str]]] | None = None,
                   version_of: Callable[[str], str | None] = installed_version) -> list[Check]:
    """One line per package: installed version against requirements.txt's pin (a source checkout), and
    against mnistlab's declared range. Without requirements.txt, the declared ranges alone.

    Missing: FAIL (WARN for test-only tools). Outside mnistlab's range: FAIL. Another version than the pin:
    WARN (the course was tested with the pin; saved notebook outputs may differ).
    """
    ranges = declared_ranges() if ranges is None else ranges
    pinned = pins(requirements) if requirements is not None and requirements.is_file() else {}
    source = "requirements.txt" if pinned else "mnistlab's declared range"
    checks = []
    for name in pinned or ranges:
        wanted = pinned.get(name) or ranges.get(name, [])
        version = version_of(name)
        if version is None:
            status = WARN if name in TEST_ONLY else FAIL
            needed = "only `make test` needs it" if name in TEST_ONLY else "the notebooks need it"
            checks.append(Check(status, name, f"not installed ({source}: {_spec_text(wanted)}; {needed})",
                                SETUP_HINT))
        elif not satisfies(version, ranges.get(name, [])):
            checks.append(Check(FAIL, name, f"{version}, mnistlab needs {_spec_text(ranges[name])}", SETUP_HINT))
        elif not satisfies(version, wanted):
            checks.append(Check(WARN, name, f"{version}, {source} pins {_spec_text(wanted)} (the version the course "
                                "was tested with; saved notebook outputs may differ)", SETUP_HINT))
        else:
            checks.append(Check(OK, name, f"{version} ({source}: {_spec_text(wanted)})"))
    if not checks:
        checks.append(Check(WARN, "packages", "no requirements.txt and mnistlab is not installed: nothing to compare",
                            "install mnistlab (pip install -e . in the project)"))
    return checks


# ---------------------------------------------------------------- the machine


def cpu_model() -> str:
    """The CPU's name (``model name`` in /proc/cpuinfo), else what ``platform`` says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine_flags() -> set[str] | None:
    """This CPU's speed-relevant flags (``device.cpu_flags``); None where /proc/cpuinfo cannot be read."""
    if not os.access("/proc/cpuinfo", os.R_OK):
        return None
    from .device import cpu_flags

    return cpu_flags()


def check_cpu(flags: set[str] | None = None, model: str | None = None, arch: str | None = None) -> Check:
    """The CPU, its speed-relevant flags, and whether bf16 is native (fast) or emulated (slower than fp32).

    ``flags``, ``model`` and ``arch`` default to this machine's. The flags are x86's; elsewhere (Apple
    silicon, ARM servers) or without /proc/cpuinfo, the line says what ``--fast`` does and no more.
    """
    flags = machine_flags() if flags is None else flags
    model = model or cpu_model()
    arch = (arch or platform.machine()).lower()
    if arch not in ("x86_64", "amd64", "i386", "i686"):
        return Check(OK, "cpu", f"{model} ({arch}): `--fast` stays in fp32 on this CPU (its bf16 autocast needs "
                     "x86's AMX or AVX512-BF16)")
    if flags is None:
        return Check(OK, "cpu", f"{model}: CPU flags not readable here (no /proc/cpuinfo); bf16 support unknown")
    shown = ", ".join(sorted(flags)) or "none of avx2, avx512f, avx512_bf16, amx_bf16"
    native = [hardware for flag, hardware in BF16_HARDWARE.items() if flag in flags]
    if native:
        bf16 = f"bf16 native ({' and '.join(native)}): `--fast` trains in bf16"
    elif "avx512f" in flags:  # measured: a 512x512 matmul 3x slower in bf16 than in fp32
        bf16 = "bf16 emulated (AVX-512 without BF16: a few times slower than fp32): `--fast` stays in fp32"
    else:  # measured on an AVX2-only CPU: 0.8 GFLOP/s in bf16 against 172 in fp32
        bf16 = "bf16 emulated (no AVX-512: up to 200x slower than fp32): `--fast` stays in fp32"
    if "avx2" not in flags:
        return Check(WARN, "cpu", f"{model}: {shown}; no AVX2, so PyTorch's CPU kernels run slowly; {bf16}",
                     "expect long epochs: use the embedded sample, a smaller model, or a machine with AVX2 or a GPU")
    return Check(OK, "cpu", f"{model}: {shown}; {bf16}")


def check_device() -> Check:
    """The device the notebooks will use (get_device: $MNISTLAB_DEVICE, else CUDA, MPS, CPU), with GPU facts."""
    import torch

    from .device import DEVICE_ENV, get_device

    chosen = os.environ.get(DEVICE_ENV)
    try:
        device = get_device()
    except (ValueError, RuntimeError) as exc:
        return Check(FAIL, "device", str(exc), f"unset {DEVICE_ENV} or set it to cpu or auto")
    by = f" (from ${DEVICE_ENV}={chosen})" if chosen else ""
    gpus = []
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        counted = ", ".join(f"{names.count(n)} x {n}" for n in dict.fromkeys(names))
        gpus.append(f"CUDA {torch.version.cuda}: {counted}")
    if hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        gpus.append("Apple MPS")
    if not gpus:
        built = f"; this torch is built for CUDA {torch.version.cuda}" if torch.version.cuda else ""
        gpus.append(f"no CUDA GPU or MPS found{built}: the course runs on the CPU")
    return Check(OK, "device", f"{device}{by}; {'; '.join(gpus)}")


def check_threads(threads: int | None = None, cores: int | None = None) -> Check:
    """torch's compute threads against the cores this process may use (more threads than cores is slow)."""
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    cores = cores or usable_cores()
    detail = f"torch computes with {threads} thread(s); {cores} core(s) usable"
    env = os.environ.get("OMP_NUM_THREADS")
    if env:
        detail += f" (OMP_NUM_THREADS={env})"
    if threads > cores:
        return Check(WARN, "threads", detail + ": more threads than cores wait on each other",
                     f"set OMP_NUM_THREADS={cores} (or fewer) before starting Python")
    return Check(OK, "threads", detail)


# ---------------------------------------------------------------- data and folders


def check_sample() -> Check:
    """The embedded sample's four .gz files against the MD5s in its manifest.json (read only, nothing written)."""
    from . import data

    folder = data.SAMPLE_DIR
    fix = "the mnistlab installation is damaged: reinstall it (make setup, or pip install -e .; in a git " \
          "checkout: git checkout mnistlab/sample)"
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError) as exc:
        return Check(FAIL, "sample", f"cannot read {folder / 'manifest.json'}: {exc}", fix)
    bad = []
    for name, entry in manifest.items():
        path = folder / name
        if not path.is_file():
            bad.append(f"{name} missing")
        elif data.md5sum(path) != entry["md5"]:
            bad.append(f"{name} damaged (MD5 differs from manifest.json)")
    if bad or len(manifest) != len(data.RAW_SHA256["sample"]):
        return Check(FAIL, "sample", f"{folder}: {'; '.join(bad) or 'manifest.json lists the wrong files'}", fix)
    images = sum(entry.get("count", 0) for name, entry in manifest.items() if "images" in name)
    return Check(OK, "sample", f"{len(manifest)} files, {images:,} images, MD5s match manifest.json")


def check_cache() -> Check:
    """The cache folder (where MNIST is unpacked) can be written; names the setting that chose it."""
    from . import data, files

    folder = data.cache_dir()
    chosen_by = data._cache_chosen_by()
    try:
        files.check_writable_folder(folder)
    except OSError as exc:
        return Check(FAIL, "cache", f"{folder} is not writable: {files.describe_os_error(exc)} "
                     f"(chosen by {chosen_by})", "set MNISTLAB_CACHE to a folder you can write to")
    return Check(OK, "cache", f"{folder} is writable (chosen by {chosen_by})")


def check_full_mnist() -> Check:
    """The full MNIST: a folder with the official files (``$MNISTLAB_DATA``, else data/), else a cached download."""
    from . import data

    how = ("to add it: copy the four official .gz files into the project's data/MNIST/raw/, or into DIR/MNIST/raw/ "
           "and set MNISTLAB_DATA=DIR; with internet, the first load_mnist(source='full') downloads them")
    try:
        root = data.find_full_root()
    except data.MNISTDataError as exc:
        return Check(WARN, "full MNIST", str(exc), how)
    if root is None:
        cached = data.cache_dir() / "full" / "MNIST" / "raw"
        sizes = {name[: -len(".gz")]: size for name, (_md5, size) in data.RESOURCES.items()}
        if all((cached / name).is_file() and (cached / name).stat().st_size == size for name, size in sizes.items()):
            return Check(OK, "full MNIST", f"in the cache {cached} (copied or downloaded earlier)")
        return Check(INFO, "full MNIST", "not found: the course uses its embedded sample (6,000 + 2,000 images)", how)
    raw = root / "MNIST" / "raw"
    via = "$MNISTLAB_DATA" if os.environ.get("MNISTLAB_DATA") else "the project's data/"
    problems = []
    for gz_name, (md5, _size) in data.RESOURCES.items():
        gz, plain = raw / gz_name, raw / gz_name[: -len(".gz")]
        if gz.is_file():
            if data.md5sum(gz) != md5:
                problems.append(f"{gz_name} damaged (MD5 differs)")
        elif not plain.is_file():
            problems.append(f"{gz_name} missing")
    if problems:
        return Check(WARN, "full MNIST", f"{raw} (via {via}): {'; '.join(problems)}",
                     "copy the official files again (torchvision's mirrors list them)")
    return Check(OK, "full MNIST", f"{raw} (via {via}): the four official files")


def check_graphviz() -> Check:
    """Graphviz's ``dot`` on PATH (renders torchviz graphs in notebook 10)."""
    dot = shutil.which("dot")
    if dot is None:
        return Check(WARN, "graphviz", "`dot` not found on PATH", GRAPHVIZ_HINT)
    return Check(OK, "graphviz", f"`dot` at {dot}")


def _lab_extension(name: str, package: str, extension: Path, status: str, missing: str, fix: str) -> Check:
    """A JupyterLab extension that comes with a Python package: the package, then its extension in this prefix."""
    version = installed_version(package)
    if version is None:
        return Check(status, name, f"{package} is not installed: {missing}", fix)
    if not (extension / "package.json").is_file():
        return Check(status, name, f"{package} {version} installed, but no extension in {extension}", fix)
    return Check(OK, name, f"{package} {version}, extension in {extension}")


def check_widgets(prefix: str | os.PathLike = sys.prefix) -> Check:
    """JupyterLab's widget extension: the jupyterlab_widgets package and its labextension in this environment."""
    return _lab_extension(
        "lab widgets", "jupyterlab_widgets",
        Path(prefix) / "share" / "jupyter" / "labextensions" / "@jupyter-widgets" / "jupyterlab-manager",
        FAIL, "sliders and images show as text",
        f"{SETUP_HINT}; jupyterlab_widgets comes with ipywidgets. Start JupyterLab from this same environment "
        "(make lab does), then reload the page")


def check_drawing_pad(prefix: str | os.PathLike = sys.prefix) -> Check:
    """anywidget and its JupyterLab extension, which notebook 08's drawing pad (``mnistlab.pad.DigitPad``) needs."""
    return _lab_extension(
        "drawing pad", "anywidget", Path(prefix) / "share" / "jupyter" / "labextensions" / "anywidget",
        WARN, "notebook 08's DigitPad cannot show",
        f"{SETUP_HINT}; anywidget is in requirements.txt. Start JupyterLab from this same environment")


def check_chinese(prefix: str | os.PathLike = sys.prefix, fonts: str | None = None) -> Check:
    """The Chinese edition's needs (``make lab-zh``): JupyterLab's Chinese language pack and a font with Chinese.

    ``fonts``: the output of ``fc-list :lang=zh`` (None: run it, where fontconfig is installed).
    """
    version = installed_version("jupyterlab-language-pack-zh-CN")
    if version is None:
        return Check(WARN, "chinese edition", "JupyterLab's Chinese language pack is not installed: make lab-zh "
                     "shows an English interface", f"{SETUP_HINT} (jupyterlab-language-pack-zh-CN is in "
                     "requirements.txt)")
    if fonts is None and shutil.which("fc-list"):
        fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, timeout=30).stdout
    if fonts is not None and not fonts.strip():
        return Check(WARN, "chinese edition", f"language pack {version}, but no font with Chinese glyphs: Chinese "
                     "text shows as boxes", "install one, e.g. `apt install fonts-wqy-microhei` (make setup does, "
                     "as root on Debian)")
    font = fonts.strip().splitlines()[0].split(":")[1].split(",")[0].strip() if fonts else "fonts not listed"
    return Check(OK, "chinese edition", f"language pack {version}; Chinese font: {font}")


def check_lab_settings(prefix: str | os.PathLike = sys.prefix, source: Path | None = LAB_SETTINGS_SOURCE) -> Check:
    """The course's JupyterLab defaults (no news pop-up, no update check), which ``make setup`` writes."""
    path = Path(prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.d" / "mnistlab.json"
    fix = "run `make setup` (it writes this file; without it JupyterLab asks students about Jupyter news)"
    if not path.is_file():
        return Check(WARN, "lab settings", f"{path} missing", fix)
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return Check(WARN, "lab settings", f"{path} unreadable: {exc}", fix)
    if source is not None and source.is_file() and json.loads(source.read_text(encoding="utf-8")) != settings:
        return Check(WARN, "lab settings", f"{path} differs from {source.name}", fix)
    return Check(OK, "lab settings", f"{path}: news pop-up and update check off")


def check_wheelhouse(folder: Path = WHEELHOUSE) -> Check:
    """Where ``make setup`` installs from: the project's wheelhouse/ (offline) or the package index."""
    wheels = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    if wheels:
        size = sum(w.stat().st_size for w in wheels) / 1e9
        return Check(OK, "install source", f"{folder}: {len(wheels)} wheels, {size:.1f} GB: `make setup` installs "
                     "from it without internet")
    return Check(INFO, "install source", "the package index (internet): no wheelhouse/ in the project",
                 "for a classroom without internet, run `make wheelhouse` on a machine with internet and copy "
                 "the project folder with it")


# ---------------------------------------------------------------- the report


def _guarded(name: str, check: Callable[[], Check | list[Check]]) -> list[Check]:
    """Run one check; a crash becomes a FAIL line (a broken torch must not hide the other lines)."""
    try:
        result = check()
    except Exception as exc:  # the doctor reports problems, it does not stop at them
        return [Check(FAIL, name, f"could not check: {type(exc).__name__}: {exc}", SETUP_HINT)]
    return result if isinstance(result, list) else [result]


def run_checks() -> list[Check]:
    """Every check, in the order of the report."""
    checks: list[tuple[str, Callable]] = [
        ("python", check_python),
        ("packages", check_packages),
        ("cpu", check_cpu),
        ("device", check_device),
        ("threads", check_threads),
        ("sample", check_sample),
        ("cache", check_cache),
        ("full MNIST", check_full_mnist),
        ("graphviz", check_graphviz),
        ("lab widgets", check_widgets),
        ("drawing pad", check_drawing_pad),
        ("chinese edition", check_chinese),
        ("lab settings", check_lab_settings),
    ]
    if REQUIREMENTS.is_file():  # a source checkout: say where `make setup` installs from
        checks.append(("install source", check_wheelhouse))
    return [line for name, check in checks for line in _guarded(name, check)]


def exit_status(checks: Iterable[Check]) -> int:
    """1 if any check failed, else 0."""
    return 1 if any(check.status == FAIL for check in checks) else 0


def render(checks: list[Check]) -> str:
    """The report: aligned columns (status, name, finding), each fix indented below its line, a verdict last."""
    from . import __version__

    width = max((len(check.name) for check in checks), default=0)
    lines = [f"mnistlab {__version__} doctor: is this machine ready for the course? ({PROJECT})", ""]
    for check in checks:
        lines.append(f"{check.status:<5} {check.name:<{width}}  {check.detail}")
        if check.fix and check.status != OK:
            lines.append(f"{'':<5} {'':<{width}}  -> {check.fix}")
    counts = ", ".join(f"{sum(c.status == s for c in checks)} {s}" for s in STATUSES)
    verdict = "NOT READY: fix the FAIL lines" if exit_status(checks) else "ready"
    lines += ["", f"{verdict} ({counts})"]
    return "\n".join(lines)


def main() -> int:
    """Print the report; return the exit status (1 if any FAIL)."""
    checks = run_checks()
    print(render(checks), flush=True)
    return exit_status(checks)


if __name__ == "__main__":
    sys.exit(main())
