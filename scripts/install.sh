#!/usr/bin/env bash
# Install alkali_layers with everything it needs on a fresh Debian machine (Python 3.11):
# system libraries for GPAW (libxc, OpenBLAS, Open MPI), then a virtual environment
# .venv holding the package (editable), GPAW + PAW setups, SevenNet (7net-0 weights ship
# in the wheel), dftd3, torch-dftd, phonopy, pymatgen, a CPU build of torch 2.13.0 and the dev tools.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install.sh: apt-get not found; install libxc-dev libopenblas-dev libopenmpi-dev" \
         "openmpi-bin with your package manager, then rerun" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq libxc-dev libopenblas-dev libopenmpi-dev openmpi-bin >/dev/null

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -m venv .venv
# torch==2.13.0 (pinned in pyproject.toml) is the CPU build; an unpinned torch would
# pull a multi-GB CUDA build.
.venv/bin/pip install --quiet -e ".[dev,docs]"  # docs: site + course notebooks
.venv/bin/python - <<'PY'
import alkali_layers, ase, dftd3, gpaw, sevenn, torch, torch_dftd
from alkali_layers.calculators.charges import compile_bader
compile_bader()  # pybader compiles and caches its numba kernels once (~2 min)
print(f"alkali_layers {alkali_layers.__version__}: ase {ase.__version__}, gpaw {gpaw.__version__}, "
      f"sevenn {sevenn.__version__}, torch {torch.__version__}")
PY
