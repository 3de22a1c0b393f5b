#!/usr/bin/env bash
# Re-records the gate's baseline for this machine's GPU: ci/baselines/<gpu>.json. Run it on
# purpose, on the GPU runner (or one with the same GPU, driver, CUDA and cuDNN), from a
# known-good commit; then review the comparison it prints and commit the file.
# Usage: ci/update-baseline.sh      Environment: DSCONV_PRESET (default hopper).

# -e: never copy a baseline from a failed build, verify or sweep; -u: a misspelt variable
# is an error; pipefail: a failure inside a pipeline is not hidden.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

preset="${DSCONV_PRESET:-hopper}"
dsconv="build-$preset/harness/dsconv"

cmake --preset "$preset"
cmake --build --preset "$preset" -j "$(nproc)"
info="$("$dsconv" info)" || { status=$?; echo "$info" >&2; exit "$status"; }
echo "$info"
slug="$(sed -n 's|^results under results/\(.*\)/$|\1|p' <<<"$info")"
target="ci/baselines/$slug.json"

# A baseline of wrong kernels would hide nothing but teach nothing: verify first.
"$dsconv" verify --impl all --no-large
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "update-baseline.sh: warning: the tree has uncommitted changes; the baseline will time them" >&2
fi

sweep_out="$(mktemp -d)"
trap 'rm -rf "$sweep_out"' EXIT
"$dsconv" sweep sweeps/gate.yaml --out "$sweep_out"
fresh="$sweep_out/$slug/gate.json"

if [ -f "$target" ]; then
  echo
  echo "replacing $target (last committed: $(git log -1 --format='%h %cs %s' -- "$target" 2>/dev/null || echo never))"
  echo "the new results against the old baseline, for review:"
  "$dsconv" gate "$target" "$fresh" --allow-device-mismatch || true  # informative only
fi
mkdir -p ci/baselines
cp "$fresh" "$target"
echo
# The commit the sweep recorded (DSCONV_GIT_COMMIT where the tree has no .git, as on a
# copied-in runner), not whatever repository happens to enclose the tree.
recorded="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["dsconv"]["git_commit"])' "$target")"
echo "wrote $target from commit $recorded."
echo "Commit it so the gate uses it:  git add $target && git commit -m \"ci: update gate baseline for $slug\""
