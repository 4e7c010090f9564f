#!/usr/bin/env bash
# Create (or update) the project's virtual environment and install gluon-densenet into it.
#
#   scripts/install.sh            # mxnet for CPU, or mxnet-cu112 when nvidia-smi sees a GPU
#   MXNET_VARIANT=cpu scripts/install.sh   # force the CPU wheel
#   MXNET_VARIANT=gpu scripts/install.sh   # force the CUDA 11.2 wheel (needs an NVIDIA driver >= 460)
#
# Environment: PYTHON (default python3.11), VENV (default .venv), EXTRAS (pyproject extras
# besides MXNet, default "notebooks"; `make test` adds "test").
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
VARIANT=${MXNET_VARIANT:-auto}
EXTRAS=${EXTRAS:-notebooks}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "error: $PYTHON not found. gluon-densenet needs Python 3.11 (MXNet 1.9.1 has no wheels for" >&2
    echo "       newer Pythons). Install it (pyenv install 3.11, or conda create -n gluon-densenet" >&2
    echo "       -f environment.yml) and run again, or set PYTHON=/path/to/python3.11." >&2
    exit 1
fi
version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$version" != "3.11" ]; then
    echo "error: $PYTHON is Python $version; gluon-densenet needs Python 3.11 (MXNet 1.9.1's wheels" >&2
    echo "       stop at 3.11 and it breaks on numpy >= 1.24). Set PYTHON=/path/to/python3.11." >&2
    exit 1
fi

if [ "$VARIANT" = auto ]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
        VARIANT=gpu
    else
        VARIANT=cpu
    fi
fi
case "$VARIANT" in
    cpu|gpu) ;;
    *) echo "error: MXNET_VARIANT must be auto, cpu or gpu (got '$VARIANT')" >&2; exit 1 ;;
esac

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
# The two MXNet wheels provide the same module: remove the other one before switching.
other=$([ "$VARIANT" = gpu ] && echo mxnet || echo mxnet-cu112)
"$VENV/bin/python" -m pip uninstall -q -y "$other" >/dev/null 2>&1 || true
echo "Installing gluon-densenet with MXNet for $VARIANT into $VENV ..."
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[$VARIANT,$EXTRAS]"
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
echo "$VARIANT" > "$VENV/.mxnet-variant"
