#!/usr/bin/env bash
# Builds the library, its tests, examples and command-line program with AddressSanitizer and
# UndefinedBehaviorSanitizer in a separate build folder (build-asan) and runs the whole CTest suite
# there. Any sanitizer report stops the offending test with a failure.
#
#   scripts/sanitize.sh                 # g++ (the compiler of the ordinary build)
#   CXX=clang++ scripts/sanitize.sh     # clang++ instead (its own folder: build-asan-clang)
#   BUILD_DIR=somewhere scripts/sanitize.sh
#
# Extra arguments go to ctest, e.g. `scripts/sanitize.sh -R ModelIO`.
set -euo pipefail
cd "$(dirname "$0")/.."

cxx="${CXX:-g++}"
default_dir=build-asan
case "$(basename "$cxx")" in clang*) default_dir=build-asan-clang ;; esac
build_dir="${BUILD_DIR:-$default_dir}"

# -O1 keeps the instrumented library quick enough while keeping stack traces readable. The tests
# and examples around it are compiled at -O0 with AddressSanitizer alone
# (MYELIN_TESTS_AND_EXAMPLES_CXX_FLAGS): they are checks and glue, and a test file that took 91 s to
# compile at -O1 with both sanitizers takes 22 s so; the library and the command-line program, the
# code users run, keep both sanitizers at -O1. NDEBUG is not
# defined, so assert() checks run too. -g1 (line tables only) is enough for reports to name the
# function, file and line; full -g made this build about 30% slower, for variables only a debugger
# reads. -fno-sanitize-recover makes every UBSan finding fatal (by
# default UBSan prints and carries on, which a test would then pass).
san_flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

cmake -S . -B "$build_dir" -G Ninja \
  -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g1" \
  -DMYELIN_TESTS_AND_EXAMPLES_CXX_FLAGS="-O0 -fno-sanitize=undefined" \
  -DCMAKE_CXX_FLAGS="$san_flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DMYELIN_BUILD_BENCH=OFF \
  -DMYELIN_BUILD_PYTHON=OFF \
  -DMYELIN_MPI=OFF
# MPI is left out here: Open MPI's own start-up allocations, never freed, would be reported as leaks
# by every rank. The multi-process tests run in the ordinary build.
cmake --build "$build_dir"

# halt_on_error: the first report ends the process with a non-zero status, so the test fails.
# detect_leaks: LeakSanitizer reports memory nobody points to at exit. oneDNN's primitive cache and
#   the OpenMP runtime's thread pools stay reachable until exit, so they are not reported as leaks
#   and need no suppression; if a leak report ever comes from inside libdnnl/libgomp (code this
#   build does not instrument), add a `leak:libdnnl` line to a suppressions file rather than turning
#   leak checking off.
# oneDNN generates its kernels at run time (JIT): that code is not instrumented, so it can neither
#   cause reports nor be checked; the buffers it reads and writes are allocated by myelin and are.
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=0:strict_init_order=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" "$@"
