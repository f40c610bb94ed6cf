#!/usr/bin/env bash
# The GPU checks of issue 4, as one script for a lent, time-limited GPU machine (see the README's
# benchmark section). Run from the repository root, with:
#   .whl/      constriction and pypng wheels for the machine's Python (the rest is installed there)
#   .devdata/  data/kodak/kodim01..03.png and anchors/coolchic/v5.0-image-kodak.tsv from ../shared
#              (both folders listed in .git/info/exclude, and named in the device run's `carry`)
#   OUT        a folder for the results; BUDGET the seconds this script may take (default 480);
#   IMAGES     Kodak indexes for the paper-budget part (default "1 2 3"); CANDIDATES=0 skips the
#              candidate timing (e.g. to give one image the whole time: the fit stops at the
#              paper's 110k steps if the time allows)
# It writes candidates_gpu.json (4 seeds vmapped vs 4 serial fits, 256x256 crop),
# paper_gpu.json and streams/*.cool (kodim01..03 one after the other, lambda 1e-3, C3 recipe
# capped to the time left).
# Check the streams on a CPU afterwards: python benchmarks/paper_budget.py verify paper_gpu.json streams
set -u
T0=$(date +%s)
BUDGET=${BUDGET:-480}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD COOLCHIC_SHARED=$PWD/.devdata PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader
python3 -c "import jax, flax, optax, numpy, constriction; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'numpy', numpy.__version__, jax.devices())" || exit 1
cd benchmarks
if [ "${CANDIDATES:-1}" != 0 ]; then
timeout 150 python3 rd_budget.py candidates --crop 256 --steps 1000 --modes vmap map --out "$OUT/candidates_gpu.json" \
  > "$OUT/candidates.log" 2>&1
echo "candidates rc=$? after $(( $(date +%s) - T0 )) s"; tail -n 4 "$OUT/candidates.log"
fi
LEFT=$(( BUDGET - ($(date +%s) - T0) ))
SECONDS_FIT=$(( LEFT - 120 )); [ "$SECONDS_FIT" -lt 30 ] && SECONDS_FIT=30
echo "paper budget: $LEFT s left, fit capped at $SECONDS_FIT s"
timeout $(( LEFT - 5 )) python3 paper_budget.py --images ${IMAGES:-1 2 3} --seconds "$SECONDS_FIT" --streams "$OUT/streams" --out "$OUT/paper_gpu.json" \
  > "$OUT/paper.log" 2>&1
echo "paper rc=$? after $(( $(date +%s) - T0 )) s"; grep -v '^ ' "$OUT/paper.log" | tail -n 8
python3 - "$OUT" <<'EOF'
import json, sys, os
out = sys.argv[1]
for name in ("candidates_gpu.json", "paper_gpu.json"):
    p = os.path.join(out, name)
    if not os.path.exists(p):
        print(name, "missing"); continue
    d = json.load(open(p))
    if "candidates" in d:
        c = d["candidates"]
        print(f"candidates: serial {c['serial_seconds']:.1f} s, vmap {c['vmap_seconds']:.1f} s (x{c['vmap_over_serial']:.3f}), map {c['map_seconds']:.1f} s (x{c['map_over_serial']:.3f}), chosen is min {c['vmap_chosen_is_min']}")
    else:
        print(f"paper: {d['steps']} steps ({d.get('steps_per_second', 0):.1f} steps/s), wall {d['wall_seconds']:.0f} s")
        for r in d["rows"]:
            print(f"  {r['image']}: {r['bpp']:.4f} bpp {r['psnr']:.2f} dB | Cool-chic 5: {r.get('coolchic5_bpp', 0):.4f} bpp {r.get('coolchic5_psnr', 0):.2f} dB")
EOF
