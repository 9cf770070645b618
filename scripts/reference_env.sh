#!/usr/bin/env bash
# Makes the virtual environment of reference tools that users have and Debian lacks, from PyPI,
# at pinned versions, and prints its path (the last line of output). Never touches the system Python.
#
#   bash scripts/reference_env.sh interop   Keras 3 (JAX backend), onnx, onnxruntime, h5py:
#                                           what the interoperability tests check files against
#   bash scripts/reference_env.sh peers     the above, and PyTorch 2 and TensorFlow: bench/'s peers
#
# The environment lives in .venv-<group>/ at the project's root (or $MYELIN_REFERENCE_ENV_DIR) and
# is reused while its pinned list is unchanged. Exit status 3: PyPI could not be reached, or a
# package could not be installed; callers report their tests as skipped with that reason.
set -euo pipefail
cd "$(dirname "$0")/.."

group="${1:-interop}"
interop=(keras==3.15.1 jax[cpu]==0.10.2 onnx==1.23.2 onnxruntime==1.32.0 h5py==3.16.0)
case "$group" in
  interop) packages=("${interop[@]}") ;;
  # tensorflow-cpu 2.21.0 and h5py 3.16.0 cannot be installed together: the peers take the h5py that
  # TensorFlow accepts. torch comes from PyPI with its CUDA libraries (several GB);
  # PyTorch's CPU-only index was not reachable from the project's machines.
  peers) packages=("${interop[@]/h5py==3.16.0/h5py==3.14.0}" torch==2.15.0 tensorflow-cpu==2.21.0) ;;
  *) echo "reference_env.sh: unknown group '$group' (interop or peers)" >&2; exit 2 ;;
esac

dir="${MYELIN_REFERENCE_ENV_DIR:-$PWD/.venv-$group}"
stamp="$dir/.pinned"
wanted="${packages[*]}"
if [ -x "$dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  echo "$dir"
  exit 0
fi
rm -rf "$dir"
# Debian's interpreter (the one the project's tests run with); --system-site-packages is not used,
# so the reference tools never mix with Debian's numpy or torch.
/usr/bin/python3 -m venv "$dir"
if ! "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}" >&2; then
  echo "reference_env.sh: could not install ${packages[*]} from PyPI" >&2
  rm -rf "$dir"
  exit 3
fi
echo "$wanted" > "$stamp"
"$dir/bin/python" -m pip list --disable-pip-version-check 2>/dev/null |
  grep -iE '^(keras|jax|jaxlib|onnx|onnxruntime|h5py|torch|tensorflow[-_]cpu|numpy) ' >&2 || true
echo "$dir"
