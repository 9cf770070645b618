#!/usr/bin/env bash
# Two ranks with batch 8 each end with the weights of one process with batch 16 on the same data
# order, and evaluate combines both ranks' rows into the single process's results: by default for the
# MLP and for a model of two inputs and two outputs trained with loss, sample and class weights;
# with --model, for that model alone (mlp, residual, recurrent, attention or two_by_two).
# Usage: equivalence.sh [--model NAME] MPI_TRAIN MPIEXEC [MPIEXEC_FLAGS...]
set -euo pipefail
models="mlp two_by_two"
if [ "$1" = "--model" ]; then models=$2; shift 2; fi
train=$1; shift
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for model in $models; do
  "$train" train --model "$model" --batch 16 --out "$dir/one.safetensors" > "$dir/one.txt"
  "$@" -np 2 "$train" train --model "$model" --batch 8 --out "$dir/two.safetensors" > "$dir/two.txt"
  cat "$dir/one.txt" "$dir/two.txt"
  grep -qx "ranks=1" "$dir/one.txt"
  grep -qx "ranks=2" "$dir/two.txt"
  "$train" compare "$dir/one.safetensors" "$dir/two.safetensors" 1e-4
  # Losses and evaluated metrics agree to float rounding.
  paste -d' ' <(grep -v ranks "$dir/one.txt") <(grep -v ranks "$dir/two.txt") | while read -r a b; do
    ka=${a%%=*} kb=${b%%=*} va=${a#*=} vb=${b#*=}
    [ "$ka" = "$kb" ] || { echo "different keys: $ka $kb"; exit 1; }
    awk -v a="$va" -v b="$vb" -v k="$ka" 'BEGIN { d = a - b; if (d < 0) d = -d; if (d > 1e-4) { print k ": " a " vs " b; exit 1 } }'
  done
done
echo "equivalent"
