#!/usr/bin/env bash
# Reproduce every shipped weight on a GPU machine, one device call at a time; see
# dev-notes/gpu.md. The gpu plan takes longer than one call: every call after the first
# goes on where the imported ones stopped (--resume).
#
#   tools/gpu_reproduce.sh prepare   # here: MNIST .gz into runs/gpu-send (carried), shipped
#                                    # .pt weights moved to runs/gpu-stash (not sent), except
#                                    # those other experiments read (judges, baselines)
#   tools/gpu_reproduce.sh run       # there: measure step costs (first call only), run what
#                                    # is left of the gpu plan, pack to $OUT
#   tools/gpu_reproduce.sh restore   # here: put the shipped weights back
#   tools/gpu_reproduce.sh import DIR  # here: merge the experiments that finished whole
#                                    # (replaced cpu-budget entries go to weights/cpu-budget)
#
# The device machine has Python 3.12 and torch preinstalled and no network: nothing is
# installed there; the package runs from the tree with PYTHONPATH=. .
set -euo pipefail
cd "$(dirname "$0")/.."

SEND=runs/gpu-send             # git-ignored; the run tool's carry list names it
STASH=runs/gpu-stash           # git-ignored; stays here
RAW_SOURCE=${RAW_SOURCE:-../shared/data/MNIST/raw}
LIMIT_MIB=64
PYTHON=${PYTHON:-python}

case "${1:-}" in
prepare)
  mkdir -p "$SEND/data/MNIST/raw" "$STASH"
  cp "$RAW_SOURCE"/*-ubyte.gz "$SEND/data/MNIST/raw/"
  # the weights that other experiments' metrics read (judges, baselines) travel: a resumed
  # plan scores against them instead of retraining them (about 14 MiB)
  read_by_others=$("$PYTHON" -c 'from mtl_tutorial import experiments, pretrained
m = pretrained.manifest()
needed = {r for e in experiments.all_experiments() for r in e.requires}
print("\n".join(sorted(m[n]["file"] for n in needed if "file" in m.get(n, {}))))')
  # every other shipped .pt, subfolders (e.g. weights/cpu-budget) included, keeping its path
  while IFS= read -r -d '' pt; do
    rel=${pt#mtl_tutorial/weights/}
    grep -qxF "$rel" <<< "$read_by_others" && continue
    mkdir -p "$STASH/$(dirname "$rel")" && mv "$pt" "$STASH/$rel"
  done < <(find mtl_tutorial/weights -name '*.pt' -print0)
  tree_bytes=$( (git ls-files -z --cached --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null || true) | awk '/total$/ {s += $1} END {print s + 0}')
  send_bytes=$(du -cb "$SEND" | tail -1 | cut -f1)
  total=$((tree_bytes + send_bytes))
  echo "to send: tree $((tree_bytes >> 20)) MiB + carried $((send_bytes >> 20)) MiB = $((total >> 20)) MiB (limit $LIMIT_MIB)"
  [ "$total" -le $((LIMIT_MIB << 20)) ] || { echo "too large: run '$0 restore' and check" >&2; exit 1; }
  echo "shipped weights moved to $STASH: run '$0 restore' as soon as the GPU call returns"
  ;;
restore)
  while IFS= read -r -d '' pt; do
    rel=${pt#"$STASH"/}
    mkdir -p "mtl_tutorial/weights/$(dirname "$rel")" && mv "$pt" "mtl_tutorial/weights/$rel"
  done < <(find "$STASH" -name '*.pt' -print0)
  git status --short mtl_tutorial/weights | grep -v '^??' && echo "(weights differ from git: see above)" || echo "shipped weights restored"
  ;;
run)
  : "${OUT:?run this on the device machine, where \$OUT is the folder that comes back}"
  began=$SECONDS
  CALL_S=${CALL_S:-540}          # this script's whole time; the device call's limit is 600 s
  WORK=${WORK:-/tmp/mtl-reproduce}
  mkdir -p "$WORK/data" && cp -r "$SEND/data/." "$WORK/data/"  # caches are built there, not sent
  export PYTHONPATH=. MTL_TUTORIAL_DATA="$WORK/data" MTL_TUTORIAL_PROGRESS=0 MPLBACKEND=Agg
  JOBS=${JOBS:-$(nproc)}
  DEVICE=${DEVICE:-cuda}         # DEVICE=cpu ONLY='shapes-nt-r000-*' SEEDS=0: a local rehearsal
  EXTRA=(--seeds "${SEEDS:-0,1,2}" --resume)  # leave out what earlier calls trained
  [ -n "${ONLY:-}" ] && EXTRA+=(--only "$ONLY")
  mkdir -p "$WORK" "$OUT/pack"
  log="$OUT/reproduce.log"
  { nvidia-smi -L || true; "$PYTHON" -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name(0))' || true; } > "$log" 2>&1
  # 1. per-family step costs on this kind of device, one process alone (also builds the
  #    data caches), unless an earlier call measured them; the plan's estimates use them
  costs=mtl_tutorial/reproduce/step_costs.json
  if "$PYTHON" -c "import json, sys; sys.exit('$DEVICE' in json.load(open('$costs')))"; then
    timeout 120 "$PYTHON" -m mtl_tutorial reproduce --measure --device "$DEVICE" --out "$WORK" >> "$log" 2>&1 \
      && cp "$WORK/step_costs.json" "$OUT/step_costs.json" && cp "$WORK/step_costs.json" "$costs" \
      || echo "measure failed or timed out" >> "$log"
  else
    echo "step costs on $DEVICE: measured by an earlier call ($costs)" >> "$log"
  fi
  "$PYTHON" -m mtl_tutorial reproduce --dry-run --device "$DEVICE" --budget gpu --jobs "$JOBS" "${EXTRA[@]}" | tail -6 >> "$log" 2>&1 || true
  # 2. what is left of the plan, in the time left (90 s kept for building the data and
  #    packing); a job expected to overrun does not start. At most 6 files (index + 5
  #    archives) and 60 MiB of packs: with the log and the step costs, 8 files under 64 MiB
  PLAN_LIMIT=${PLAN_LIMIT:-$((CALL_S - (SECONDS - began) - 90))}
  echo "training time limit: $PLAN_LIMIT s" >> "$log"
  timeout $((PLAN_LIMIT + 75)) "$PYTHON" -m mtl_tutorial reproduce --device "$DEVICE" --budget gpu \
    "${EXTRA[@]}" --jobs "$JOBS" --out "$WORK" --pack-dir "$OUT/pack" --max-files 6 --max-total-mib 60 \
    --time-limit "$PLAN_LIMIT" >> "$log" 2>&1 || echo "reproduce exit $?" >> "$log"
  tail -5 "$log"
  ls -la "$OUT" "$OUT/pack"
  ;;
import)
  # an entry whose runs the gpu budget replaces keeps its cpu-budget runs in weights/cpu-budget
  # only experiments whose every seed finished: a half-trained one is rerun whole later
  "$PYTHON" -m mtl_tutorial reproduce --import "${2:?usage: $0 import DIR (the fetched \$OUT)}/pack" \
    --keep-replaced mtl_tutorial/weights/cpu-budget --complete-only
  if [ -f "$2/step_costs.json" ]; then  # measured there: later estimates use it
    cp "$2/step_costs.json" mtl_tutorial/reproduce/step_costs.json
  fi
  ;;
*)
  sed -n '2,12p' "$0"
  exit 2
  ;;
esac
