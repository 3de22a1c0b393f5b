#!/usr/bin/env bash
# The GPU regression gate, for a CI runner with an NVIDIA GPU:
#   build -> dsconv verify (wrong kernels fail here, before any timing) -> the gate sweep
#   -> dsconv gate against ci/baselines/<gpu>.json -> markdown summary.
# Usage: ci/gate.sh
# Environment: DSCONV_PRESET (default hopper), DSCONV_GATE_OUT (default out/gate: receives
#   summary.md and current.json), DSCONV_GATE_ARGS (more `dsconv gate` options, e.g.
#   "--max-slowdown 10%"), GITHUB_STEP_SUMMARY (set by GitHub Actions: the summary is
#   appended there).
# Exit: 0 pass; 1 a kernel is wrong or slower; 2 bad input (e.g. no baseline for this GPU);
#   3 no usable GPU; anything else: the build failed.

# -e: stop at the first failing step rather than gate stale or partial results;
# -u: a misspelt variable is an error, not an empty string;
# pipefail: a failure inside a pipeline is not hidden by the command after it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

preset="${DSCONV_PRESET:-hopper}"
dsconv="build-$preset/harness/dsconv"  # the presets' binaryDir is build-<preset>
out="${DSCONV_GATE_OUT:-out/gate}"
mkdir -p "$out"

# Appends to the GitHub job page when running under Actions (an `if`, so that set -e does
# not end the script when the variable is unset).
step_summary() {
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat >>"$GITHUB_STEP_SUMMARY"; fi
}

cmake --preset "$preset"
cmake --build --preset "$preset" -j "$(nproc)"

info="$("$dsconv" info)" || { status=$?; echo "$info" >&2; exit "$status"; }
echo "$info"
slug="$(sed -n 's|^results under results/\(.*\)/$|\1|p' <<<"$info")"

# Before the slow steps: without a baseline for this GPU there is nothing to gate against.
baseline="ci/baselines/$slug.json"
if [ ! -f "$baseline" ]; then
  cat >&2 <<MSG
gate.sh: no baseline for this GPU: $baseline does not exist.
Baselines are per GPU model (timings from another GPU are not comparable). Record one on
this runner, from a known-good commit (e.g. main), and commit it:
  ci/update-baseline.sh && git add $baseline && git commit -m "ci: gate baseline for $slug"
MSG
  echo "dsconv gate: no baseline \`$baseline\` for this GPU; see ci/update-baseline.sh" | step_summary
  exit 2
fi

rc=0
"$dsconv" verify --impl all --no-large || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "gate.sh: dsconv verify failed (exit $rc): not timing wrong kernels" >&2
  echo ":x: dsconv gate: \`dsconv verify --impl all --no-large\` failed (exit $rc); see the job log" | step_summary
  exit "$rc"
fi

sweep_out="$(mktemp -d)"
trap 'rm -rf "$sweep_out"' EXIT
"$dsconv" sweep sweeps/gate.yaml --out "$sweep_out"
cp "$sweep_out/$slug/gate.json" "$out/current.json"  # kept for upload: the next baseline, or a diagnosis

# DSCONV_GATE_ARGS is split into words on purpose: it holds options.
# shellcheck disable=SC2086
"$dsconv" gate "$baseline" "$out/current.json" --summary "$out/summary.md" ${DSCONV_GATE_ARGS:-} || rc=$?
if [ -f "$out/summary.md" ]; then step_summary <"$out/summary.md"; fi
exit "$rc"
