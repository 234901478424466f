#!/usr/bin/env bash
# Set up (or refresh) the course environment: .venv, the pinned packages, mnistlab
# itself in editable mode, Graphviz's `dot` where we can install it, and matplotlib's
# font cache (built once here so no notebook prints "Matplotlib is building the font cache").
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.mnistlab-installed"
PYTHON=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
    echo "mnistlab: creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi

# requirements.txt, then mnistlab in editable mode: from wheelhouse/ when it holds wheels (a classroom
# without internet: see `make wheelhouse`), else from the package index. The script says which.
if [ ! -f "$STAMP" ] || [ requirements.txt -nt "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    bash scripts/install_requirements.sh "$VENV/bin/python" .
    "$VENV/bin/pip" show torch >/dev/null  # fail here, clearly, if torch did not install
    "$VENV/bin/python" -c "import mnistlab"
    touch "$STAMP"
fi

# The course's JupyterLab defaults (no "get notified about Jupyter news?" pop-up in class, no update
# check): an overrides file inside the venv, so a student's own settings still win.
OVERRIDES="$VENV/share/jupyter/lab/settings/overrides.d/mnistlab.json"
if ! cmp -s scripts/jupyterlab-overrides.json "$OVERRIDES"; then
    mkdir -p "$(dirname "$OVERRIDES")"
    cp scripts/jupyterlab-overrides.json "$OVERRIDES"
fi

# Graphviz renders torchviz graphs (notebook 10). Optional: the notebook prints the DOT source without it.
if ! command -v dot >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "mnistlab: installing Debian's graphviz (for torchviz)"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null) \
            || echo "mnistlab: could not install graphviz; notebook 10 will print the DOT source instead"
    else
        echo "mnistlab: Graphviz 'dot' not found (optional): install it with your package manager" \
             "(apt install graphviz / brew install graphviz / conda install -c conda-forge graphviz)"
    fi
fi

# The Chinese interface (make lab-zh) needs a font with Chinese glyphs, or the browser draws empty boxes.
# Desktops have one; a bare Debian machine (a classroom seat, CI) gets WenQuanYi Micro Hei (about 5 MB).
if command -v fc-list >/dev/null 2>&1 && [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "mnistlab: installing Debian's fonts-wqy-microhei (Chinese glyphs for make lab-zh)"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null) \
            || echo "mnistlab: could not install fonts-wqy-microhei; Chinese text may show as boxes"
    else
        echo "mnistlab: no font with Chinese glyphs found (optional, for make lab-zh): install one, e.g." \
             "apt install fonts-wqy-microhei"
    fi
fi

# Chromium drives the browser test (tests/test_browser.py); `make test` asks for it with
# MNISTLAB_SETUP_BROWSER=1. Only Debian's package is used: Playwright's own browser download
# (`playwright install`) is never run. Without it the browser test skips (and fails under CI=true).
if [ "${MNISTLAB_SETUP_BROWSER:-0}" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "mnistlab: installing Debian's chromium (for the browser test)"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
            || echo "mnistlab: could not install chromium; the browser test will be skipped"
    else
        echo "mnistlab: 'chromium' not found (optional): install Debian's chromium package to run the browser test"
    fi
fi

# Build matplotlib's font cache once, inside the project.
export MPLCONFIGDIR="${MPLCONFIGDIR:-$PWD/.cache/matplotlib}"
mkdir -p "$MPLCONFIGDIR"
"$VENV/bin/python" -c "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot" 
