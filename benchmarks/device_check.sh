#!/usr/bin/env bash
# The measurements of docs/scaling.md and the README's benchmark table on one machine, in one
# command (meant for a GPU):
#
#     bash benchmarks/device_check.sh OUT_DIR [--quick]
#
# In order: the device; kqjax-bench-profile (the count step's time against its chunk size, its
# compile time at each size, its kernels), then its compile times again with XLA's parallel LLVM
# module compilation (a GPU option); the default run cold and warm; kqjax-bench --all. OUT_DIR
# gets two files: summary.md (every table, also printed at the end) and device_check.tar.gz (all
# logs, JSON and the profiler trace). A step that fails is noted in the summary and the next one
# runs.
set -u
out=${1:?usage: bash benchmarks/device_check.sh OUT_DIR [--quick]}
quick=${2:-}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
note() { echo "$*" >> device.txt; }
{
  date -u
  (nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi")
  python -c 'import jax; print("jax", jax.__version__, jax.devices())'
} > device.txt 2>&1

kqjax-bench-profile $quick --json profile.json --trace trace > profile.md 2> profile.log \
  || note "kqjax-bench-profile failed: profile.log"
XLA_FLAGS="--xla_gpu_enable_llvm_module_compilation_parallelism=true" \
  kqjax-bench-profile $quick --steps 1 --repeat 1 --top 5 --json profile_llvm_parallel.json \
  > profile_llvm_parallel.md 2> profile_llvm_parallel.log \
  || note "kqjax-bench-profile with parallel LLVM compilation failed: profile_llvm_parallel.log"

cache=$(mktemp -d)
TIMEFORMAT=%R
for pass in cold warm; do
  { time KQJAX_CACHE_DIR="$cache" kqjax run.progress=false hydra.run.dir="run_$pass" \
      > "run_$pass.log" 2>&1; } 2> "time_$pass.txt"
  status=$?
  echo "$pass: $(cat "time_$pass.txt") s wall, exit status $status" >> default_run.txt
done
rm -rf "$cache"

kqjax-bench --all $quick --json all.json --markdown all.md > all.log 2>&1 \
  || note "kqjax-bench --all failed: all.log"

{
  echo "# device_check $(date -u +%F)"; echo
  for f in device.txt profile.md profile_llvm_parallel.md default_run.txt all.md; do
    echo "## $f"; echo; echo '```'; cat "$f" 2>/dev/null || echo "(missing)"; echo '```'; echo
  done
} > "$out/summary.md"
find trace -name '*.xplane.pb' -exec cp {} profile.xplane.pb \; 2>/dev/null
rm -rf trace
tar czf "$out/device_check.tar.gz" .
cat "$out/summary.md"
