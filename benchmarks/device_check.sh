#!/usr/bin/env bash
# The measurements of docs/scaling.md and the README's benchmark table on one machine, in one
# command (meant for a GPU):
#
#     bash benchmarks/device_check.sh OUT_DIR [--quick]
#
# In order: the device; kqjax-bench-profile (the count step's time against its chunk size, its
# compile time at each size, its kernels); the default run cold and warm; the profile's compile
# times again with XLA's parallel LLVM module compilation (a GPU option); kqjax-bench --all.
# OUT_DIR gets two files, rewritten after every step: summary.md (every table so far, also
# printed at the end) and device_check.tar.gz (all logs, JSON and the profiler trace). Every step
# runs under what is left of DEVICE_CHECK_BUDGET_S seconds (default 540), so that the files are
# complete up to the step a time limit stops; a step that fails or runs out of time is noted in
# the summary and the next one runs.
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
    for f in device.txt profile.md default_run.txt profile_llvm_parallel.md all.md; do
      [ -f "$f" ] || continue
      echo "## $f"; echo; echo '```'; cat "$f"; echo '```'; echo
    done
  } > "$out/summary.md"
  find trace -name '*.xplane.pb' -exec cp {} profile.xplane.pb \; 2>/dev/null
  tar czf "$out/device_check.tar.gz" --exclude=./trace . 2>/dev/null
}

step() {  # step NAME STDOUT_FILE COMMAND...: run under the time left, note a failure
  local name=$1 file=$2 left=$((deadline - SECONDS))
  shift 2
  if [ "$left" -le 5 ]; then
    echo "$name: skipped, no time left" >> device.txt
  else
    timeout "$left" "$@" > "$file" 2> "${file%.*}.log"
    local status=$?
    [ "$status" -eq 0 ] || echo "$name: exit status $status$([ "$status" -eq 124 ] && echo ' (out of time)'), see ${file%.*}.log" >> device.txt
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
  start=$(date +%s%N)
  step "default run ($pass)" "run_$pass.txt" env KQJAX_CACHE_DIR="$cache" \
    kqjax run.progress=false hydra.run.dir="run_$pass"
  ms=$((($(date +%s%N) - start) / 1000000))
  echo "$pass: $((ms / 1000)).$(printf %03d $((ms % 1000))) s wall, output run_$pass.txt" >> default_run.txt
done
rm -rf "$cache"
pack

step "kqjax-bench-profile, parallel LLVM compilation" profile_llvm_parallel.md \
  env XLA_FLAGS="--xla_gpu_enable_llvm_module_compilation_parallelism=true" \
  kqjax-bench-profile $quick --steps 1 --repeat 1 --top 5 --json profile_llvm_parallel.json

step "kqjax-bench --all" all.md kqjax-bench --all $quick --json all.json --markdown all.md.tmp
[ -f all.md.tmp ] && mv all.md.tmp all.md
pack
cat "$out/summary.md"
