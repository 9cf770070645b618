"""Builds the extension module myelin._myelin with the project's CMake build (no downloads: Debian's
cmake, pybind11-dev and the library's own dependencies), then installs it with python/myelin."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        target = Path(self.get_ext_fullpath(ext.name)).resolve()
        build_dir = Path(self.build_temp).resolve() / "cmake"
        configure = ["cmake", "-S", str(ROOT), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
                     "-DMYELIN_BUILD_TESTS=OFF", "-DMYELIN_BUILD_EXAMPLES=OFF", "-DMYELIN_BUILD_BENCH=OFF",
                     "-DMYELIN_BUILD_TOOLS=OFF", "-DMYELIN_BUILD_PYTHON=ON",
                     # The interpreter running this build is the one the module is for.
                     f"-DPython3_EXECUTABLE={sys.executable}"]
        if shutil.which("ninja"):
            configure += ["-G", "Ninja"]
        subprocess.check_call(configure)
        subprocess.check_call(["cmake", "--build", str(build_dir), "--target", "_myelin", "--parallel",
                               str(os.cpu_count() or 1)])
        built = next((build_dir / "python" / "myelin").glob("_myelin*"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built, target)


# setuptools' own build and metadata folders go under build-pip/ (ignored by git), not into the
# CMake build folder or the source tree.
(ROOT / "build-pip").mkdir(exist_ok=True)

setup(
    package_dir={"": "python"},
    packages=find_packages("python"),
    ext_modules=[CMakeExtension("myelin._myelin")],
    cmdclass={"build_ext": CMakeBuild},
    options={"build": {"build_base": "build-pip"}, "egg_info": {"egg_base": "build-pip"}},
)
