#!/usr/bin/env bash
# The whole journey of each task kind's demo experiment through the CLI (sweep, evaluate, rank,
# promote), on whatever device torch finds: run it once on a CUDA machine to check the GPU path
# of every kind and print wall times per step.
#
#   bash benchmarks/gpu_kinds.sh [OUT_DIR] [KIND ...]     # kinds: landmarks classification seg3d demo
set -uo pipefail
out=${1:-/tmp/medselect-kinds}
shift || true
kinds=${*:-landmarks classification seg3d}
medselect=(python3 -m medselect.cli)
mkdir -p "$out"
python3 -c "import torch; print('torch', torch.__version__, 'cuda:', torch.cuda.is_available() \
and torch.cuda.get_device_name(0))"

step() {  # step NAME LOG COMMAND...: run, print its wall time and exit code
  local name=$1 log=$2 start=$SECONDS
  shift 2
  "$@" >"$log" 2>&1
  local code=$?
  echo "  $name: $((SECONDS - start)) s (exit $code)"
  [ $code -eq 0 ] || tail -5 "$log"
  return $code
}

for kind in $kinds; do
  exp=$out/$kind.yaml ws=$out/ws-$kind
  python3 -c "import sys, medselect.config as c; print(c.dump_experiment(
      getattr(c, f'default_{sys.argv[1]}_experiment')()))" "$kind" >"$exp" || exit 1
  echo "$kind:"
  step sweep "$out/$kind-sweep.log" "${medselect[@]}" sweep run "$exp" -w "$ws" --workers 2 \
    --json || continue
  step evaluate "$out/$kind-evaluate.json" "${medselect[@]}" evaluate "$exp" -w "$ws" --json \
    || continue
  step rank "$out/$kind-rank.json" "${medselect[@]}" rank "$exp" -w "$ws" --json || continue
  "${medselect[@]}" runs list -w "$ws" --json >"$out/$kind-runs.json"
  python3 - "$out/$kind-rank.json" "$out/$kind-runs.json" <<'EOF'
import json, sys
board = json.load(open(sys.argv[1]))["ranking"]["leaderboard"]
devices = sorted({str(r.get("device")) for r in json.load(open(sys.argv[2]))})
print(f"  {board['metric']} ({board['label']}, {board['aggregate']}), trained on {devices}:")
for row in board["rows"]:
    print(f"    {row['rank']}. {row['model']}: {row['aggregate']:.4g} "
          f"[{row['ci_low']:.4g}, {row['ci_high']:.4g}]")
EOF
  best=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['ranking']\
['leaderboard']['best'])" "$out/$kind-rank.json")
  step "promote $best" "$out/$kind-promote.json" "${medselect[@]}" promote "$best" -w "$ws" \
    --experiment "$exp" --json
done
