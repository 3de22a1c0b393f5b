#!/usr/bin/env bash
# GPU validation in one command, for a machine with an NVIDIA GPU:
#   build -> all tests -> dsconv verify --impl all (suite + KernelBench shape)
#   -> fresh PyTorch golden cases through `dsconv check` (and an altered one must fail)
#   -> the verify suite under compute-sanitizer (memcheck, racecheck)
#   -> a quick benchmark of the seed shape
# and a summary table last. Logs and JSON go to $OUT (or out/gpu-check), tarred into one
# file, which is refreshed after every stage.
#
# Usage: scripts/gpu-check.sh [STAGE ...]
#   stages: build test verify cases sanitize bench sweeps (default: all but sweeps)
#   sweeps runs every shipped sweep and the PyTorch baselines into results/<gpu>/.
# Environment: DSCONV_STAGE_TIMEOUT (seconds, default 1800), DSCONV_PRESET (default hopper: sm_90a only), DSCONV_IMPLS (default all),
#   DSCONV_SWEEPS (default: every sweeps/*.yaml), DSCONV_SANITIZE_IMPLS (default all).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"

preset="${DSCONV_PRESET:-hopper}"
impls="${DSCONV_IMPLS:-all}"
sanitize_impls="${DSCONV_SANITIZE_IMPLS:-all}"
out="${OUT:-$root/out/gpu-check}"
logs="$out/gpu-check"
mkdir -p "$logs"
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(build test verify cases sanitize bench)
export PATH="$PATH:/usr/local/cuda/bin"
export PYTHONUNBUFFERED=1

declare -a summary
overall=0
wants() { local s; for s in "${stages[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

# run_stage NAME EXPECTED_EXIT COMMAND...: runs, logs to $logs/NAME.log, records the result.
run_stage() {
  local name="$1" expected="$2"
  shift 2
  echo "=== $name: $*" >&2
  local start=$SECONDS
  timeout "${DSCONV_STAGE_TIMEOUT:-1800}" "$@" > >(tee "$logs/$name.log") 2>&1
  local rc=$?
  local verdict="ok"
  if [ "$rc" -ne "$expected" ]; then verdict="FAILED (exit $rc, expected $expected)"; overall=1; fi
  summary+=("$(printf '%-22s %-34s %6ss' "$name" "$verdict" $((SECONDS - start)))")
  # The logs so far, in the one file a cut-off run still brings back (a remote run returns
  # only a few files, and a run stopped at its time limit never reaches the final tar).
  printf '%s\n' "${summary[@]}" > "$logs/summary.txt"
  tar -czf "$out/gpu-check-logs.tgz" -C "$out" gpu-check
  return 0
}

build_dir="$root/build-$preset"
[ "$preset" = default ] && build_dir="$root/build"
dsconv="$build_dir/harness/dsconv"

if wants build; then
  run_stage configure 0 cmake --preset "$preset"
  run_stage build 0 cmake --build --preset "$preset" -j "$(nproc)"
fi
if [ ! -x "$dsconv" ]; then
  echo "gpu-check: $dsconv was not built" >&2
  printf '%s\n' "${summary[@]}"
  exit 1
fi
run_stage info 0 "$dsconv" info
gpu="$("$dsconv" info | sed -n 's|^results under results/\(.*\)/$|\1|p')"

if wants test; then
  # -LE large: the KernelBench shape's test; the verify stage below covers it.
  run_stage ctest 0 ctest --preset "$preset" -j 4 -LE large --output-junit "$logs/ctest-junit.xml"
fi

if wants verify; then
  run_stage verify 0 "$dsconv" verify --impl "$impls" --json "$logs/verify.json"
fi

if wants cases && ! python3 -c "import torch" 2>/dev/null; then
  # The fresh cases come from PyTorch; without it the stage is reported skipped, not passed.
  summary+=("$(printf '%-22s %-34s' cases "SKIPPED (no PyTorch: pip install torch)")")
elif wants cases; then
  # Golden cases that are not in the repository: fresh random shapes from PyTorch.
  cases="$(mktemp -d)"
  run_stage make_cases 0 python3 scripts/make_cases.py --out "$cases" --random 6 --seed "$RANDOM"
  case_args=()
  for c in "$cases"/*/; do case_args+=(--case "$c"); done
  run_stage check_fresh_cases 0 "$dsconv" check --impl all "${case_args[@]}"
  # The same check must fail once an expected value is altered.
  first="$(ls -d "$cases"/*/ | head -1)"
  python3 - "$first/dx.npy" <<'PY'
import sys, numpy as np
a = np.load(sys.argv[1]); a.flat[a.size // 2] += 1e-3 * (abs(a.flat[a.size // 2]) + 1); np.save(sys.argv[1], a)
PY
  run_stage check_altered_case 1 "$dsconv" check --impl reference --case "$first"
  # Exit 1 must come from the comparison (an internal error exits 1 too): the altered dx fails.
  if ! grep -qE "reference +backward +FAIL" "$logs/check_altered_case.log"; then
    summary+=("$(printf '%-22s %-34s' check_altered_case_why "FAILED (no dx mismatch reported)")")
    overall=1
  fi
  rm -rf "$cases"
fi

if wants sanitize; then
  # The small suite (the KernelBench shape is too slow under instrumentation). memcheck
  # covers every implementation, cuDNN included (it catches a wrong workspace size handed to
  # the library); racecheck looks for shared-memory races, so it runs on our own kernels.
  own="$("$dsconv" list | awk 'NR > 2 && $1 !~ /^cudnn/ {printf "%s%s", sep, $1; sep = ","}')"
  run_stage sanitize_memcheck 0 compute-sanitizer --tool memcheck --error-exitcode 99 --print-limit 20 \
    "$dsconv" verify --impl "$sanitize_impls" --no-large --no-determinism --seed 1
  run_stage sanitize_racecheck 0 compute-sanitizer --tool racecheck --error-exitcode 99 --print-limit 20 \
    "$dsconv" verify --impl "${DSCONV_RACECHECK_IMPLS:-$own}" --no-large --no-determinism --seed 1
fi

if wants bench && "$dsconv" --help 2>/dev/null | grep -q ' bench'; then
  run_stage bench_seed 0 "$dsconv" bench --impl "$impls" --problem seed --pass both --stages --json "$logs/bench-seed.json"
fi

if wants sweeps; then
  for spec in ${DSCONV_SWEEPS:-sweeps/*.yaml}; do
    name="$(basename "$spec" .yaml)"
    # torch.compile takes about a minute per shape: the seed sweep only.
    torch_impls=torch_eager,torch_eager_tf32
    [ "$name" = seed ] && torch_impls=torch_eager,torch_eager_tf32,torch_compile
    DSCONV="$dsconv" DSCONV_TORCH_IMPLS="${DSCONV_TORCH_IMPLS:-$torch_impls}" \
      run_stage "sweep_$name" 0 scripts/run-sweep.sh "$spec"
  done
  tar -czf "$out/results-$gpu.tgz" -C "$root" "results/$gpu" 2>/dev/null
fi

if [ -f "$logs/verify.log" ]; then
  echo
  sed -n '/^problem /,$p' "$logs/verify.log"
fi
tar -czf "$out/gpu-check-logs.tgz" -C "$out" gpu-check && rm -rf "$logs"
echo
echo "gpu-check on $gpu ($("$dsconv" info | sed -n 's/^GPU *//p'))"
printf '%-22s %-34s %7s\n' stage result time
printf '%s\n' "${summary[@]}"
exit $overall
