#!/usr/bin/env bash
# Reproduce every shipped weight on a GPU machine, one device call per session; see
# dev-notes/gpu.md. The gpu plan takes longer than one call, so its pieces are imported
# into a campaign folder (tools/gpu-campaign, a weights folder of its own), every call
# going on where the last one stopped (--resume); once the campaign is whole, `release`
# copies it into the package's weights at once.
#
#   tools/gpu_reproduce.sh prepare   # here: MNIST (.xz) into runs/gpu-send (carried); every
#                                    # .pt moved to runs/gpu-stash (not sent), except the
#                                    # campaign's judges; the room left in the
#                                    # 64 MiB sends the GAN runs a call stops on to the next
#   tools/gpu_reproduce.sh run       # there: measure step costs (first call only), train
#                                    # what the campaign lacks (stopped GAN runs go on from
#                                    # runs/gpu-send/resume/<campaign>), pack to $OUT
#   tools/gpu_reproduce.sh restore   # here: put the weights back
#   tools/gpu_reproduce.sh import DIR  # here: the experiments that finished whole go into
#                                    # the campaign, the saved states of the GAN runs held
#                                    # back into runs/gpu-send/resume/<campaign>; DIR is $OUT
#   tools/gpu_reproduce.sh release   # here, when nothing is left: the campaign replaces the
#                                    # package's entries (cpu-budget ones kept aside)
#
# The device machine has Python 3.12 and torch preinstalled and no network: nothing is
# installed there; the package runs from the tree with PYTHONPATH=. .
set -euo pipefail
cd "$(dirname "$0")/.."

SEND=runs/gpu-send             # git-ignored; the run tool's carry list names it
STASH=runs/gpu-stash           # git-ignored; stays here
CAMPAIGN=${CAMPAIGN:-tools/gpu-campaign}  # tracked: what the device calls trained, whole
RESUME=$SEND/resume/$(basename "$CAMPAIGN")  # saved states of the GAN runs the last call
                               # stopped; one folder per campaign (a rehearsal's stay apart)
RAW_SOURCE=${RAW_SOURCE:-../shared/data/MNIST/raw}
LIMIT_MIB=64
PYTHON=${PYTHON:-$(command -v python3 || command -v python)}  # python3 holds torch there

case "${1:-}" in
prepare)
  mkdir -p "$SEND/data/MNIST/raw" "$STASH" "$CAMPAIGN"
  # MNIST as xz-compressed IDX files: 9 MB instead of the .gz files' 11.6 (more room for
  # saved GAN states); `run` extracts them there, and the package reads extracted files
  rm -f "$SEND"/data/MNIST/raw/*.gz
  for gz in "$RAW_SOURCE"/*-ubyte.gz; do
    xzfile="$SEND/data/MNIST/raw/$(basename "$gz" .gz).xz"
    # kept from an earlier prepare only if it holds the whole file (not an empty or cut-off one)
    if [ "$( (xz -dc "$xzfile" 2> /dev/null || true) | wc -c)" != "$(gzip -dc "$gz" | wc -c)" ]; then
      gzip -dc "$gz" | xz -9e -T0 > "$xzfile.tmp"
      mv "$xzfile.tmp" "$xzfile"
    fi
  done
  # the judges' weights in the campaign travel: the resumed plan scores against them
  # instead of retraining them (<= 8 MiB; the Δm baselines' metrics are in the manifest).
  # First line: the bytes the judges not yet in the campaign will add (the package's sizes)
  judges=$(MTL_TUTORIAL_WEIGHTS=$CAMPAIGN "$PYTHON" -c 'from mtl_tutorial import experiments, pretrained
m, package = pretrained.manifest(), pretrained.manifest(pretrained.WEIGHTS_DIR)
judges = {r for e in experiments.all_experiments() for r in e.reads_weights_of}
to_come = [pretrained.WEIGHTS_DIR / package[n]["file"] for n in judges if "file" not in m.get(n, {}) and "file" in package.get(n, {})]
print(sum(f.stat().st_size for f in to_come if f.is_file()))
print("\n".join(sorted(m[n]["file"] for n in judges if "file" in m.get(n, {}))))')
  to_come=$(head -1 <<< "$judges")
  read_by_others=$(tail -n +2 <<< "$judges")
  # every other .pt of the package and of the campaign, keeping its path
  while IFS= read -r -d '' pt; do
    [[ $pt == "$CAMPAIGN"/* ]] && grep -qxF "${pt#"$CAMPAIGN"/}" <<< "$read_by_others" && continue
    mkdir -p "$STASH/$(dirname "$pt")" && mv "$pt" "$STASH/$pt"
  done < <(find mtl_tutorial/weights "$CAMPAIGN" -name '*.pt' -print0)
  tree_bytes=$( (git ls-files -z --cached --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null || true) | awk '/total$/ {s += $1} END {print s + 0}')
  send_bytes=$(du -cb "$SEND" | tail -1 | cut -f1)
  resume_bytes=$( (du -cb "$RESUME" 2>/dev/null || echo 0) | tail -1 | cut -f1)
  total=$((tree_bytes + send_bytes))
  echo "to send: tree $((tree_bytes >> 20)) MiB + carried $((send_bytes >> 20)) MiB (saved GAN states $((resume_bytes >> 20)) MiB) = $((total >> 20)) MiB (limit $LIMIT_MIB)"
  [ "$total" -le $((LIMIT_MIB << 20)) ] || { echo "too large: run '$0 restore' and check" >&2; exit 1; }
  # what the next call may be sent of the saved states this one packs: the limit, less
  # this send without its saved states, the judges still to come, 1 MiB
  carry=$(( ((LIMIT_MIB - 1) << 20) - (total - resume_bytes) - to_come ))
  carry=$(( carry > 0 ? carry >> 20 : 0 ))
  echo "$carry" > "$SEND/carry-mib"
  echo "saved GAN states this call may pack for the next: $carry MiB"
  echo "weights moved to $STASH: run '$0 restore' as soon as the GPU call returns"
  ;;
restore)
  while IFS= read -r -d '' pt; do
    rel=${pt#"$STASH"/}
    mkdir -p "$(dirname "$rel")" && mv "$pt" "$rel"
  done < <(find "$STASH" -name '*.pt' -print0)
  git status --short mtl_tutorial/weights "$CAMPAIGN" | grep -v '^??' && echo "(weights differ from git: see above)" || echo "weights restored"
  ;;
run)
  : "${OUT:?run this on the device machine, where \$OUT is the folder that comes back}"
  began=$SECONDS
  CALL_S=${CALL_S:-540}          # this script's whole time; the device call's limit is 600 s
  WORK=${WORK:-/tmp/mtl-reproduce}
  mkdir -p "$WORK/data/MNIST/raw"  # the IDX files extracted there; the caches are built there
  "$PYTHON" -c 'import lzma, pathlib, sys
src, dst = map(pathlib.Path, sys.argv[1:])
for f in sorted(src.glob("*.xz")):
    (dst / f.stem).write_bytes(lzma.decompress(f.read_bytes()))' "$SEND/data/MNIST/raw" "$WORK/data/MNIST/raw"
  # the GAN runs the last call stopped go on from their saved states (reproduce --resume)
  [ -d "$RESUME" ] && mkdir -p "$WORK/runs" && cp -r "$RESUME/." "$WORK/runs/"
  CARRY_MIB=$(cat "$SEND/carry-mib" 2>/dev/null || echo 0)
  mkdir -p "$CAMPAIGN"  # the plan reads what is trained from the campaign's manifest
  export PYTHONPATH=. MTL_TUTORIAL_DATA="$WORK/data" MTL_TUTORIAL_PROGRESS=0 MPLBACKEND=Agg \
    MTL_TUTORIAL_WEIGHTS="$PWD/$CAMPAIGN"
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
  "$PYTHON" -m mtl_tutorial reproduce --dry-run --device "$DEVICE" --budget gpu --jobs "$JOBS" "${EXTRA[@]}" \
    --carry-mib "$CARRY_MIB" | sed -n '/ runs of /,$p' >> "$log" 2>&1 || true
  # 2. what is left of the plan, in the time left (90 s kept for building the data and
  #    packing); a job expected to overrun does not start. At most 6 files (index + 5
  #    archives) and 60 MiB of packs: with the log and the step costs, 8 files under 64 MiB
  PLAN_LIMIT=${PLAN_LIMIT:-$((CALL_S - (SECONDS - began) - 90))}
  echo "training time limit: $PLAN_LIMIT s" >> "$log"
  timeout $((PLAN_LIMIT + 75)) "$PYTHON" -m mtl_tutorial reproduce --device "$DEVICE" --budget gpu \
    "${EXTRA[@]}" --jobs "$JOBS" --out "$WORK" --pack-dir "$OUT/pack" --max-files 6 --max-total-mib 60 \
    --time-limit "$PLAN_LIMIT" --carry-mib "$CARRY_MIB" >> "$log" 2>&1 || echo "reproduce exit $?" >> "$log"
  tail -5 "$log"
  ls -la "$OUT" "$OUT/pack"
  ;;
import)
  # only experiments whose every seed finished: a half-trained one is rerun whole later
  from=${2:?usage: $0 import DIR (the fetched \$OUT)}
  MTL_TUTORIAL_WEIGHTS=$CAMPAIGN "$PYTHON" -m mtl_tutorial reproduce --import "$from/pack" --complete-only \
    --resume-dir "$RESUME"
  if [ -f "$from/step_costs.json" ]; then  # measured there: later estimates use it
    cp "$from/step_costs.json" mtl_tutorial/reproduce/step_costs.json
  fi
  mkdir -p "$CAMPAIGN/logs" && cp "$from/reproduce.log" "$CAMPAIGN/logs/call-$(date -u +%Y%m%dT%H%MZ).log"
  MTL_TUTORIAL_WEIGHTS=$CAMPAIGN "$PYTHON" -m mtl_tutorial reproduce --dry-run --budget gpu --resume cuda \
    --carry-mib "$(cat "$SEND/carry-mib" 2>/dev/null || echo 32)" | sed -n '/ runs of /,$p'  # what is left
  ;;
release)
  # refuses unless the campaign holds every experiment, seeds 0-2, trained on cuda
  "$PYTHON" -m mtl_tutorial reproduce --release "$CAMPAIGN" --keep-replaced mtl_tutorial/weights/cpu-budget
  ;;
*)
  awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0"
  exit 2
  ;;
esac
