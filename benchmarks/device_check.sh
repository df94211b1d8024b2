#!/usr/bin/env bash
# The measurements of docs/scaling.md and the README's benchmark table on one machine, in one
# command (meant for a GPU: the device, kqjax-bench --all, the count step's compile time with and
# without XLA's parallel LLVM module compilation, and the default run cold and warm):
#
#     bash benchmarks/device_check.sh OUT_DIR [--quick]
#
# Every result lands in OUT_DIR (device.txt, all.json, all.md, compile_*.json, default_run.txt);
# a step that fails is recorded there and the next one runs.
set -u
out=${1:?usage: bash benchmarks/device_check.sh OUT_DIR [--quick]}
quick=${2:-}
mkdir -p "$out"
{
  date -u
  (nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi")
  python -c 'import jax; print("jax", jax.__version__, jax.devices())'
} > "$out/device.txt" 2>&1

kqjax-bench --all $quick --json "$out/all.json" --markdown "$out/all.md" > "$out/all.log" 2>&1 \
  || echo "kqjax-bench --all failed: $out/all.log" >> "$out/device.txt"

for name in default llvm_parallel; do
  flags=""
  [ "$name" = llvm_parallel ] && flags="--xla_gpu_enable_llvm_module_compilation_parallelism=true"
  XLA_FLAGS="$flags" KQJAX_CACHE_DIR= kqjax-bench $quick --json "$out/compile_$name.json" \
    > "$out/compile_$name.log" 2>&1 || echo "compile ($name, XLA_FLAGS=$flags) failed" >> "$out/device.txt"
done

cache=$(mktemp -d)
TIMEFORMAT=%R
for pass in cold warm; do
  { time KQJAX_CACHE_DIR="$cache" kqjax run.progress=false hydra.run.dir="$out/run_$pass" \
      > "$out/run_$pass.log" 2>&1; } 2> "$out/time_$pass.txt"
  status=$?
  echo "$pass: $(cat "$out/time_$pass.txt") s wall, exit status $status" >> "$out/default_run.txt"
done
rm -rf "$cache"
