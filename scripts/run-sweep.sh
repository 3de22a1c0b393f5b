#!/usr/bin/env bash
# One sweep end to end on this GPU, as the committed results are made:
#   dsconv sweep SPEC  ->  scripts/torch_baseline.py (PyTorch on the same problems, same card)
#   ->  dsconv merge (joins the rows, recomputes speedups)  ->  scripts/plot.py (PNG + SVG)
# into results/<gpu>/NAME.{json,csv,md,png,svg}.
#
# Usage: scripts/run-sweep.sh sweeps/NAME.yaml [dsconv sweep options...]
# Environment: DSCONV (the binary; default: the newest build-*/harness/dsconv),
#   DSCONV_RESULTS (default results), DSCONV_TORCH_IMPLS (default torch_eager,torch_eager_tf32;
#   add torch_compile for the seed sweep; "none" skips PyTorch, which is otherwise needed:
#   without it the run stops with exit 3 after the dsconv rows are written).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
spec="${1:?usage: scripts/run-sweep.sh sweeps/NAME.yaml [options]}"
shift
dsconv="${DSCONV:-$(ls -t build*/harness/dsconv 2>/dev/null | head -1)}"
[ -x "$dsconv" ] || { echo "run-sweep: no dsconv binary; build first (cmake --preset default ...)" >&2; exit 2; }
results="${DSCONV_RESULTS:-results}"
torch_impls="${DSCONV_TORCH_IMPLS:-torch_eager,torch_eager_tf32}"
name="$(basename "$spec" .yaml)"
slug="$("$dsconv" info | sed -n 's|^results under results/\(.*\)/$|\1|p')"
json="$results/$slug/$name.json"

status=0
"$dsconv" sweep "$spec" --out "$results" --quiet "$@" || status=$?
# Exit 1 means some row was incorrect: the file is written and says which; go on.
[ "$status" -le 1 ] || exit "$status"
if [ "$torch_impls" != none ]; then
  baseline="$(mktemp --suffix=.json)"
  trap 'rm -f "$baseline"' EXIT
  # Exit 1: some baseline row failed its check (the file says which); 2 and 3 (bad input, no
  # PyTorch or no GPU) stop the run with that status.
  torch_status=0
  python3 scripts/torch_baseline.py "$json" --out "$baseline" --impls "$torch_impls" || torch_status=$?
  [ "$torch_status" -le 1 ] || exit "$torch_status"
  "$dsconv" merge "$json" "$baseline" --out "$json"
fi
python3 scripts/plot.py "$json"

sed -n '1,200p' "${json%.json}.md"
exit "$status"
