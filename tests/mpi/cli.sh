#!/usr/bin/env bash
# `mpirun -np 2 myelin train` trains data-parallel: rank 0 alone prints its summary and writes the
# model, which then evaluates like any other.
# Usage: cli.sh MYELIN DATA_DIR MPIEXEC [MPIEXEC_FLAGS...]
set -euo pipefail
myelin=$1 data=$2; shift 2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
echo '[{"class_name": "Dense", "config": {"units": 10, "activation": "relu"}}, {"class_name": "Dense", "config": {"units": 1}}]' \
  > "$dir/model.json"
"$@" -np 2 "$myelin" train --model "$dir/model.json" --data "$data/boston_house_prices.csv" --skip-rows 1 \
  --target MEDV --standardize --epochs 30 --batch-size 8 --seed 1 --verbose 0 --output "$dir/m.safetensors" > "$dir/out.txt"
cat "$dir/out.txt"
[ "$(grep -c '^saved model' "$dir/out.txt")" = 1 ] || { echo "expected one summary, from rank 0"; exit 1; }
grep -qx "ranks=2" "$dir/out.txt"
"$myelin" evaluate "$dir/m.safetensors" --data "$data/boston_house_prices.csv" --skip-rows 1 --target MEDV > "$dir/eval.txt"
cat "$dir/eval.txt"
awk -F= '$1 == "loss" { exit !($2 < 100) }' "$dir/eval.txt" || { echo "the model trained on two ranks did not learn"; exit 1; }
