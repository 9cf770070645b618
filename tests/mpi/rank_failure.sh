#!/usr/bin/env bash
# A rank killed in the middle of training stops the whole job (no hang: CTest's timeout would fail
# it), and the job restarted with the same backup folder continues to the weights of a run that was
# never interrupted.
# Usage: rank_failure.sh MPI_TRAIN MPIEXEC [MPIEXEC_FLAGS...]
set -uo pipefail
train=$1; shift
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$@" -np 2 "$train" train --epochs 5 --out "$dir/whole.safetensors" > /dev/null || { echo "uninterrupted run failed"; exit 1; }
"$@" -np 2 "$train" train --epochs 5 --backup "$dir/backup" --kill-rank 1 --kill-epoch 3 --out "$dir/x.safetensors" \
  > "$dir/killed.txt" 2>&1
status=$?
cat "$dir/killed.txt"
[ $status -ne 0 ] || { echo "the job with a killed rank exited 0"; exit 1; }
[ ! -e "$dir/x.safetensors" ] || { echo "the killed job finished training"; exit 1; }
[ -e "$dir/backup/backup.safetensors" ] || { echo "no backup was left to restart from"; exit 1; }
set -e
"$@" -np 2 "$train" train --epochs 5 --backup "$dir/backup" --out "$dir/resumed.safetensors" > "$dir/resumed.txt"
cat "$dir/resumed.txt"
first=$(sed -n 's/^first_epoch=//p' "$dir/resumed.txt")
[ "$first" -ge 2 ] || { echo "the restarted job began at epoch $first instead of resuming"; exit 1; }
"$train" compare "$dir/whole.safetensors" "$dir/resumed.safetensors" 0
echo "resumed"
