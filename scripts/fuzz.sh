#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, AddressSanitizer + UndefinedBehaviorSanitizer) in build-fuzz
# and runs each for a bounded time from its committed seed corpus in fuzz/corpus/<target>/.
#
#   scripts/fuzz.sh               # 60 s per target (CI passes 20: nine targets in 3 minutes)
#   scripts/fuzz.sh 600           # a longer run: 10 minutes per target
#   scripts/fuzz.sh 60 fuzz_csv   # only the named targets
#
# New interesting inputs go to build-fuzz/corpus/<target>/ (kept between runs, never committed on
# their own); a crashing, leaking or too slow input is written to build-fuzz/artifacts/<target>/ and
# the script exits non-zero once every target has run. To keep a finding as a regression test,
# fix it, then copy the artifact into fuzz/corpus/<target>/ (every run replays the whole corpus first).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(fuzz_idx fuzz_csv fuzz_idx_dataset fuzz_csv_dataset fuzz_safetensors fuzz_model_json fuzz_image fuzz_vocabulary fuzz_keras); fi
build_dir="${BUILD_DIR:-build-fuzz}"
cxx="${CXX_FUZZ:-clang++}"

# Only the library and the fuzz targets; without NDEBUG assert()s (nlohmann::json's too) stay
# active; -g1's line tables keep stack traces readable (function, file, line).
# MYELIN_FUZZ_OPTIMIZATION: -O1 by default (libFuzzer's advice: quicker inputs); CI passes -O0, which
# halves the library's build for its short runs.
optimization="${MYELIN_FUZZ_OPTIMIZATION:--O1}"
cmake -S . -B "$build_dir" -G Ninja \
  -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="$optimization -g1" \
  -DMYELIN_FUZZ=ON \
  -DMYELIN_BUILD_TESTS=OFF -DMYELIN_BUILD_EXAMPLES=OFF -DMYELIN_BUILD_TOOLS=OFF \
  -DMYELIN_BUILD_BENCH=OFF -DMYELIN_BUILD_PYTHON=OFF >/dev/null
cmake --build "$build_dir" --target "${targets[@]}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

mkdir -p "$build_dir/logs"
# Every committed input (seeds and the regressions of past findings) must pass, always.
for t in "${targets[@]}"; do
  if ! "$build_dir/fuzz/$t" -runs=0 "fuzz/corpus/$t" >"$build_dir/logs/$t.replay.log" 2>&1; then
    tail -n 60 "$build_dir/logs/$t.replay.log"
    echo "fuzzing: a committed input of $t fails again (regression)" >&2
    exit 1
  fi
done

failed=()
for t in "${targets[@]}"; do
  seeds="fuzz/corpus/$t"
  work="$build_dir/corpus/$t"
  artifacts="$build_dir/artifacts/$t/"
  mkdir -p "$work" "$artifacts"
  dict=()
  case "$t" in fuzz_safetensors | fuzz_model_json) dict=(-dict=fuzz/json.dict) ;; esac
  echo "== $t: ${seconds} s from $seeds"
  # -malloc_limit_mb: a single allocation beyond 512 MiB is a finding (the readers must check sizes
  # against the file before allocating). -timeout: an input taking over 10 s is a finding.
  # -max_len: room for the seed files (a saved model is a few KiB) and some growth.
  if ! "$build_dir/fuzz/$t" "$work" "$seeds" "${dict[@]}" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 -max_len=16384 \
      -artifact_prefix="$artifacts" -print_final_stats=1 >"$build_dir/logs/$t.log" 2>&1; then
    failed+=("$t")
    # The report of the finding, from its first line (the whole log stays in build-fuzz/logs/).
    first=$(grep -n -m1 -E "ERROR: |runtime error|terminate called|Sanitizer" "$build_dir/logs/$t.log" | cut -d: -f1 || true)
    tail -n +"${first:-1}" "$build_dir/logs/$t.log" | head -n 120
  else
    tail -n 8 "$build_dir/logs/$t.log"
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzzing found problems in: ${failed[*]} (inputs in $build_dir/artifacts/)" >&2
  # MYELIN_FUZZ_ADVISORY=1 (CI) reports a new finding without failing: exploration is random, and a
  # submission should not pass or fail by chance. The finding is fixed and its input committed, after
  # which the replay above makes it fatal for good.
  if [ "${MYELIN_FUZZ_ADVISORY:-0}" = "1" ]; then exit 0; fi
  exit 1
fi
echo "fuzzing: no findings in ${targets[*]}"
