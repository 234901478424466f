#!/usr/bin/env bash
# Install the course's packages into a Python environment, or download them for a classroom without internet.
#
#   scripts/install_requirements.sh PYTHON [PROJECT]
#       Install $REQUIREMENTS into PYTHON's environment, then PROJECT (a folder with a pyproject.toml)
#       in editable mode, without its dependencies and without build isolation (setuptools comes from
#       $REQUIREMENTS). When $WHEELHOUSE holds wheels, everything comes from there and no package index is
#       asked (pip --no-index): a classroom seat needs no internet. Otherwise pip uses the package index.
#   scripts/install_requirements.sh --download PYTHON
#       Download every wheel $REQUIREMENTS needs (dependencies included) into $WHEELHOUSE, then prove
#       that an install from it alone resolves. Run it on a machine with internet and the same operating
#       system, processor kind (x86-64, ARM) and Python version as the seats.
#
# Environment: REQUIREMENTS (default requirements.txt), WHEELHOUSE (default wheelhouse).
# scripts/setup.sh uses the first form, `make wheelhouse` the second.
set -euo pipefail

REQUIREMENTS=${REQUIREMENTS:-requirements.txt}
WHEELHOUSE=${WHEELHOUSE:-wheelhouse}

usage() {
    echo "usage: $0 PYTHON [PROJECT]  |  $0 --download PYTHON" >&2
    exit 2
}

# pip, quiet, without the "Location ... is ignored" lines some machines' pip configuration causes;
# its exit status is pip's (pipefail).
pip_quiet() {
    "$PYTHON" -m pip --disable-pip-version-check "$@" 2>&1 \
        | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}

wheel_count() {
    find "$1" -maxdepth 1 -name '*.whl' 2>/dev/null | wc -l | tr -d ' '
}

download() {
    # Into a temporary folder, renamed at the end: an interrupted download never leaves a wheelhouse that
    # the seats would take for complete. Wheels of an earlier wheelhouse are reused.
    local part="$WHEELHOUSE.part"
    if [ -d "$WHEELHOUSE" ] && [ ! -d "$part" ]; then
        mv "$WHEELHOUSE" "$part"
    fi
    mkdir -p "$part"
    echo "mnistlab: downloading every wheel $REQUIREMENTS needs into $WHEELHOUSE/ (about 3 GB for the CUDA build of torch)"
    pip_quiet download -q -r "$REQUIREMENTS" -d "$part"
    echo "mnistlab: checking that $REQUIREMENTS installs from $WHEELHOUSE/ alone"
    pip_quiet install -q --dry-run --ignore-installed --no-index --find-links "$part" -r "$REQUIREMENTS"
    rm -rf "$WHEELHOUSE"
    mv "$part" "$WHEELHOUSE"
    echo "mnistlab: $WHEELHOUSE/ holds $(wheel_count "$WHEELHOUSE") wheels, $(du -sh "$WHEELHOUSE" | cut -f1);" \
         "copy the project folder with it to each seat, where \`make lab\` installs without internet"
}

install() {
    local offline=()
    if [ "$(wheel_count "$WHEELHOUSE")" -gt 0 ]; then
        echo "mnistlab: installing $REQUIREMENTS from $WHEELHOUSE/ ($(wheel_count "$WHEELHOUSE") wheels;" \
             "offline: no package index is used)"
        offline=(--no-index)
        if ! pip_quiet install -q --no-index --find-links "$WHEELHOUSE" -r "$REQUIREMENTS"; then
            echo "mnistlab: $WHEELHOUSE/ lacks a wheel $REQUIREMENTS needs: run \`make wheelhouse\` again on a" \
                 "machine with internet, or delete $WHEELHOUSE/ to install from the package index" >&2
            exit 1
        fi
    else
        echo "mnistlab: installing $REQUIREMENTS from the package index (first time: a few minutes)"
        pip_quiet install -q -r "$REQUIREMENTS"
    fi
    if [ -n "$PROJECT" ]; then
        # ${offline[@]+...}: an empty array under `set -u` in the bash 3.2 of macOS
        pip_quiet install -q ${offline[@]+"${offline[@]}"} --no-deps --no-build-isolation -e "$PROJECT"
    fi
}

if [ "${1:-}" = --download ]; then
    [ $# -eq 2 ] || usage
    PYTHON=$2
    download
else
    [ $# -ge 1 ] && [ $# -le 2 ] || usage
    PYTHON=$1
    PROJECT=${2:-}
    install
fi
