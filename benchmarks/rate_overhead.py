"""File bits vs estimated bits on full Kodak images, for several lambdas.

    python benchmarks/rate_overhead.py [--images 1 2] [--lmbdas 1e-3 1e-2] [--steps 300] [--out F.json]

The estimate is the ideal code length of the latents under the fixed-point ARM's distributions
(-sum log2 p), plus the coded weights and the header; the ratio file/estimate measures the range
coder's overhead (target <= 1.01).
"""

from __future__ import annotations

import argparse
import sys

from _common import emit, kodak

from coolchic.api.image import encode_image
from coolchic.io.image import read_image
from coolchic.presets import get_preset


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--lmbdas", type=float, nargs="+", default=[1e-3, 1e-2])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--preset", default="c3-kodak")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    rows = []
    for i in args.images:
        img = read_image(kodak(i))
        for lm in args.lmbdas:
            _, rep = encode_image(img, get_preset(args.preset).config, lmbda=lm, steps=args.steps, progress=False)
            n = img.height * img.width
            rows.append(
                {
                    "image": f"kodim{i:02d}",
                    "lmbda": lm,
                    "file_bits": 8 * rep.bytes,
                    "estimated_bits": rep.bpp_estimated * n,
                    "ratio": rep.bpp / rep.bpp_estimated,
                    "bytes_by_part": rep.bytes_by_part,
                    "bpp": rep.bpp,
                    "psnr": rep.psnr,
                }
            )
            print(rows[-1], file=sys.stderr)
    emit(
        {"steps": args.steps, "preset": args.preset, "rows": rows, "max_ratio": max(r["ratio"] for r in rows)}, args.out
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
