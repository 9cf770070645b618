#!/usr/bin/env bash
# Training throughput of one process against two MPI ranks on the same machine, with the ratios.
#
#   bench/mpi_benchmark.sh [BUILD_DIR] [mpi_benchmark arguments...]
#
# BUILD_DIR defaults to build. Three runs of BUILD_DIR/bench/mpi_benchmark with the same global
# batch (128 unless --batch is given):
#   one_process: plainly, one process with every core as OpenMP threads, batch 128;
#   one_core:    one process on one thread with batch 64: the work each of two ranks does alone;
#   two_ranks:   mpirun -np 2, each rank bound to its own core (--bind-to core, shown by
#                --report-bindings) and so running one OpenMP thread, batch 64 per rank.
# Then two_ranks / one_process (the speed-up of going data-parallel on this machine) and
# two_ranks / (2 x one_core) (how close two ranks come to two independent cores: the rest is the
# allreduce and the ranks waiting for each other).
set -euo pipefail

build_dir=build
if [[ $# -gt 0 && $1 != --* ]]; then
  build_dir=$1
  shift
fi
bin=$build_dir/bench/mpi_benchmark
if [[ ! -x $bin ]]; then
  echo "mpi_benchmark.sh: $bin not found; build it first (cmake --build $build_dir --target mpi_benchmark)" >&2
  exit 2
fi
if ! command -v mpirun > /dev/null; then
  echo "mpi_benchmark.sh: mpirun not found (Debian: apt-get install openmpi-bin)" >&2
  exit 2
fi

# Global batch: the last --batch given, else 128; the one-core run uses half of it.
batch=128
args=("$@")
for ((i = 0; i + 1 < ${#args[@]}; ++i)); do
  [[ ${args[i]} == --batch ]] && batch=${args[i + 1]}
done

echo "# uptime before: $(uptime)"
echo "## one_process"
one_process=$("$bin" "$@")
echo "$one_process"
echo "## one_core"
one_core=$("$bin" "$@" --threads 1 --batch $((batch / 2)))
echo "$one_core"
echo "## two_ranks"
two_ranks=$(mpirun --oversubscribe --allow-run-as-root --bind-to core --report-bindings -np 2 "$bin" "$@")
echo "$two_ranks"
echo "# uptime after: $(uptime)"

value() {  # value NAME OUTPUT: the value of the line NAME=...
  awk -F= -v k="$1" '$1 == k { print $2 }' <<< "$2"
}
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "nan"; else printf "%.4f\n", a / b }'
}
echo "## ratios"
for model in mlp cnn; do
  for metric in samples_per_sec samples_per_sec_from_step; do
    name=${model}_${metric}
    p=$(value "$name" "$one_process")
    c=$(value "$name" "$one_core")
    t=$(value "$name" "$two_ranks")
    [[ -z $p ]] && continue
    echo "${name}_one_process=$p"
    echo "${name}_two_ranks=$t"
    echo "${name}_two_ranks_over_one_process=$(ratio "$t" "$p")"
    echo "${name}_two_ranks_over_twice_one_core=$(ratio "$t" "$(awk -v c="$c" 'BEGIN { print 2 * c }')")"
  done
done
