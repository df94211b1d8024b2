#!/usr/bin/env bash
# The measurements of docs/scaling.md and the README's benchmark table on one machine, in one
# command (meant for a GPU):
#
#     bash benchmarks/device_check.sh OUT_DIR [--quick]
#
# In order: the device; kqjax-bench-profile (the count step's time against its chunk size, its
# compile time at each size, its kernels); the default run cold and warm; the profile's compile
# times again with XLA's parallel LLVM module compilation (a GPU option); kqjax-bench --all with
# all threads (on a GPU the device does the work either way; --threads one halves the time).
# OUT_DIR gets two files, rewritten after every step: summary.md (every table so far and each
# step's wall time and exit status, also printed at the end) and device_check.tar.gz (all logs,
# JSON and the profiler trace). Every step runs under what is left of DEVICE_CHECK_BUDGET_S
# seconds (default 540), so that the files are complete up to the step a time limit stops; a step
# that fails or runs out of time is noted and the next one runs.
set -u
out=${1:?usage: bash benchmarks/device_check.sh OUT_DIR [--quick]}
quick=${2:-}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
deadline=$((SECONDS + ${DEVICE_CHECK_BUDGET_S:-540}))

pack() {
  {
    echo "# device_check $(date -u +%F)"; echo
    for f in device.txt steps.txt profile.md profile_llvm_parallel.md all.md; do
      [ -f "$f" ] || continue
      echo "## $f"; echo; echo '```'; cat "$f"; echo '```'; echo
    done
  } > "$out/summary.md"
  find trace -name '*.xplane.pb' -exec cp {} profile.xplane.pb \; 2>/dev/null
  tar czf "$out/device_check.tar.gz" --exclude=./trace . 2>/dev/null
}

step() {  # step NAME STDOUT_FILE COMMAND...: run under the time left, its wall time in steps.txt
  local name=$1 file=$2 left=$((deadline - SECONDS)) start ms status
  shift 2
  if [ "$left" -le 5 ]; then
    echo "$name: skipped, no time left" >> steps.txt
  else
    start=$(date +%s%N)
    timeout "$left" "$@" > "$file" 2> "${file%.*}.log"
    status=$?
    ms=$((($(date +%s%N) - start) / 1000000))
    echo "$name: $((ms / 1000)).$(printf %03d $((ms % 1000))) s wall, exit status $status$([ "$status" -eq 124 ] \
      && echo ' (out of time)'), output $file, log ${file%.*}.log" >> steps.txt
  fi
  pack
}

{
  date -u
  (nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi")
  python -c 'import jax; print("jax", jax.__version__, jax.devices())'
} > device.txt 2>&1
pack

step kqjax-bench-profile profile.md kqjax-bench-profile $quick --json profile.json --trace trace

cache=$(mktemp -d)
for pass in cold warm; do
  step "default run, $pass compilation cache" "run_$pass.txt" env KQJAX_CACHE_DIR="$cache" \
    kqjax run.progress=false hydra.run.dir="run_$pass"
done
rm -rf "$cache"

step "kqjax-bench-profile, parallel LLVM compilation" profile_llvm_parallel.md \
  env XLA_FLAGS="--xla_gpu_enable_llvm_module_compilation_parallelism=true" \
  kqjax-bench-profile $quick --steps 1 --repeat 1 --top 5 --json profile_llvm_parallel.json

step "kqjax-bench --all --threads all" all.md kqjax-bench --all --threads all $quick --json all.json \
  --markdown all.md.tmp
[ -f all.md.tmp ] && mv all.md.tmp all.md
pack
cat "$out/summary.md"
