#!/usr/bin/env bash
# Installs the Debian packages myelin builds and tests with, when any is missing.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config
  libdnnl-dev            # GEMM and convolution primitives
  ocl-icd-opencl-dev     # Debian's oneDNN CMake config requires OpenCL (its GPU runtime)
  libopenmpi-dev openmpi-bin  # data-parallel training across processes
  zlib1g-dev             # reading .gz data files
  libjpeg62-turbo-dev    # decoding JPEG images (libjpeg-turbo)
  libpng-dev             # decoding and writing PNG images
  libstb-dev             # decoding BMP and GIF images (stb_image)
  python3-pil            # the image tests' reference pixels (PIL decodes the same files)
  adwaita-icon-theme     # a real folder of PNG images for the image-folder example
  nlohmann-json3-dev     # model architecture as JSON
  libzip-dev libhdf5-dev # Keras's .keras (a zip) and .h5 model files
  libcli11-dev           # the myelin command-line program
  gnuplot-nox            # myelin plot
  libgtest-dev           # the test suite
  python3-numpy python3-torch  # the PyTorch reference in tests and bench/
  libopenblas0-pthread   # torch's BLAS: without it torch falls back to the reference BLAS, ~10x slower
  pybind11-dev python3-dev python3-pytest  # the Python package and its tests
  python3-venv           # scripts/reference_env.sh: pinned reference tools from PyPI, apart from the system
  dataset-fashion-mnist  # the main job's data
  wamerican wngerman wfrench wspanish witalian wdutch wportuguese  # word lists: the language_id example
  miscfiles              # public-domain texts (the U.S. Constitution): the text_generation example
  clang libclang-rt-14-dev libomp-14-dev  # fuzzing (libFuzzer, clang's ASan/UBSan, OpenMP for clang)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update
$sudo apt-get install -y --no-install-recommends "${missing[@]}"
