#!/usr/bin/env bash
# Build the original TensorFlow DenoiSeg (PyPI denoiseg 0.3.1) in its own
# virtual environment, for compare.py.
#
#   bash benchmarks/original/setup.sh [VENV_DIR]
#
# VENV_DIR (or the environment variable ORIGINAL_VENV) defaults to
# benchmarks/original/.venv-original. PYTHON picks the interpreter
# (default python3.11: the pins below have wheels for it).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${1:-${ORIGINAL_VENV:-$here/.venv-original}}"
python="${PYTHON:-python3.11}"

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --upgrade pip
"$venv/bin/python" -m pip install \
    tensorflow-cpu==2.15.1 denoiseg==0.3.1 n2v==0.3.2 csbdeep==0.7.4 "numpy<2"
# denoiseg 0.3.1 pins wrapt<=1.12.1, which imports inspect.formatargspec
# (removed in Python 3.11), so "import tensorflow" fails with it. wrapt 1.14
# is the first release for 3.11 and within TensorFlow 2.15's range
# (>=1.11,<1.15); pip warns that it breaks denoiseg's pin, which is harmless.
"$venv/bin/python" -m pip install --no-deps "wrapt>=1.14,<1.15"

# smoke import (run_original.py applies the same tifffile alias)
"$venv/bin/python" - <<'PY'
import tifffile
if not hasattr(tifffile, "imsave"):
    tifffile.imsave = tifffile.imwrite
import tensorflow as tf
import denoiseg
from denoiseg.models import DenoiSeg, DenoiSegConfig
print("original DenoiSeg", denoiseg.__version__, "on TensorFlow", tf.__version__)
PY
echo "original venv ready: $venv/bin/python"
