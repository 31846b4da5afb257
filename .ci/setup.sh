# Sourced by .ci/run and .ci/walkthrough: a virtual environment with lazymagic and
# its test tools, made on first use. Set LAZY_BROWSER_TEST=0 to skip the browser
# dependencies (chromium from Debian, JupyterLab and playwright from PyPI).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
WORK="$PWD/.ci-tmp"
mkdir -p "$WORK"
# Keep caches and kernel files out of the home directory.
export MPLCONFIGDIR="$WORK/mpl" IPYTHONDIR="$WORK/ipython" \
       JUPYTER_CONFIG_DIR="$WORK/jupyter-config" JUPYTER_RUNTIME_DIR="$WORK/jupyter-runtime"
# The kernel must pick matplotlib's inline backend itself.
unset MPLBACKEND

if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv"
    if ! "$PYTHON" -m venv .venv; then
        # Debian's own python3 ships venv's pip bootstrap in a separate package.
        rm -rf .venv
        echo "== installing python3-venv (Debian package)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        "$PYTHON" -m venv .venv
    fi
fi
echo "== installing lazymagic and its test tools"
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

if [ "${LAZY_BROWSER_TEST:-1}" = 1 ] && [ "${LAZY_SETUP_BROWSER:-1}" = 1 ]; then
    if [ ! -x /usr/bin/chromium ]; then
        echo "== installing chromium (Debian package)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
    echo "== installing JupyterLab and playwright"
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[browser]'
fi
