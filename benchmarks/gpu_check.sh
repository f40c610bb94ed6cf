#!/usr/bin/env bash
# The GPU checks of issue 4, as one script for a lent, time-limited GPU machine (see the README's
# GPU section). Run from the repository root, with:
#   .whl/      constriction and pypng wheels for the machine's Python (the rest is installed there;
#              skipped when both already import)
#   .devdata/  data/kodak/kodim01..03.png and anchors/coolchic/v5.0-image-kodak.tsv from ../shared
#              (both folders listed in .git/info/exclude, and named in the device run's `carry`)
#   OUT        a folder for the results; BUDGET the seconds this script may take (default 480);
#   CANDIDATES=0 skips the candidate timing; CAND_STEPS its steps (default 1000), MODES the ways of
#              fitting them together that are timed against serial fits (default "vmap map");
#   IMAGES     Kodak indexes fitted one after the other with the time left (default "1 2 3").
# Writes $OUT/candidates_gpu.json (4 seeds fitted together vs 4 serial fits, 256x256 crop, the
# fastest of 2 turns each), then
# for each image while at least 120 s are left: $OUT/paper_kodimNN.json and $OUT/streams/kodimNN.cool
# (lambda 1e-3, C3 recipe, the `paper` budget of 110k steps capped to the time left), and
# $OUT/gpu_check.log. Each image is its own process (so a failure or a kill loses one image);
# they share a compilation cache.
# Check the streams on a CPU afterwards: python benchmarks/paper_budget.py verify F.json DIR
set -u
T0=$(date +%s)
BUDGET=${BUDGET:-480}
LOG="$OUT/gpu_check.log"
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
if ! python3 -c "import constriction, png" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD COOLCHIC_SHARED=$PWD/.devdata PYTHONUNBUFFERED=1
export JAX_COMPILATION_CACHE_DIR=/tmp/jax-cache
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader 2>/dev/null
python3 -c "import jax, constriction, coolchic; from importlib.metadata import version as v; print(*(f'{p} {v(p)}' for p in ('jax', 'flax', 'optax', 'numpy', 'orbax-checkpoint', 'constriction')), jax.devices())" || exit 1
cd benchmarks
if [ "${CANDIDATES:-1}" != 0 ]; then
  timeout 150 python3 rd_budget.py candidates --crop 256 --steps "${CAND_STEPS:-1000}" --modes ${MODES:-vmap map} --repeats 2 \
    --out "$OUT/candidates_gpu.json" >> "$LOG" 2>&1
  echo "candidates rc=$? after $(( $(date +%s) - T0 )) s"
fi
for i in ${IMAGES:-1 2 3}; do
  LEFT=$(left) name=$(printf kodim%02d "$i")
  [ "$LEFT" -lt 120 ] && { echo "$name: skipped, $LEFT s left"; continue; }
  # 60 s for compiling (H100: 20 s cold, 8 s from the cache), the warm-up fits (3 s), coding and
  # decoding (2 s)
  echo "$name: $LEFT s left, fit capped at $(( LEFT - 60 )) s"
  timeout $(( LEFT - 5 )) python3 paper_budget.py --images "$i" --seconds $(( LEFT - 60 )) --streams "$OUT/streams" \
    --out "$OUT/paper_$name.json" >> "$LOG" 2>&1
  echo "$name rc=$? after $(( $(date +%s) - T0 )) s"
done
python3 - "$OUT" <<'EOF'
import glob, json, os, sys
out = sys.argv[1]
for p in sorted(glob.glob(os.path.join(out, "*.json"))):
    d = json.load(open(p))
    if "candidates" in d:
        c = d["candidates"]
        modes = " ".join(f"{m} {c[m + '_seconds']:.1f} s (x{c[m + '_over_serial']:.3f}, chosen is min {c[m + '_chosen_is_min']})"
                         for m in ("vmap", "map", "threads", "default") if m + "_seconds" in c)
        print(f"candidates ({c['n']} x {c['steps']} steps): serial {c['serial_seconds']:.1f} s, {modes}")
    else:
        for r in d["rows"]:
            print(f"{r['image']}: {d['steps']} steps ({d.get('steps_per_second', 0):.1f} steps/s), wall {d['wall_seconds']:.0f} s: "
                  f"{r['bpp']:.4f} bpp {r['psnr']:.2f} dB | Cool-chic 5: {r.get('coolchic5_bpp', 0):.4f} bpp {r.get('coolchic5_psnr', 0):.2f} dB")
EOF
