"""Median decode time of a full Kodak image, split into weights / latents / synthesis.

    python benchmarks/decode_speed.py [--image 1] [--steps 300] [--lmbda 1e-3] [--repeats 7] [--out F.json]

Fits the image briefly (decode time depends on the architecture and the latents, not on how long
the fit ran), writes the stream, then decodes it `repeats` times in this process.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from _common import emit, kodak

from coolchic.api.image import encode_image
from coolchic.coding.image_codec import decode
from coolchic.io.image import read_image
from coolchic.presets import get_preset


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", type=int, default=1)
    ap.add_argument("--preset", default="c3-kodak")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lmbda", type=float, default=1e-3)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    img = read_image(kodak(args.image))
    data, report = encode_image(img, get_preset(args.preset).config, lmbda=args.lmbda, steps=args.steps, progress=False)
    runs = []
    for _ in range(args.repeats):
        rec, _, info = decode(data)
        runs.append(info)
    assert np.array_equal(rec.transpose(1, 2, 0), report.reconstruction)
    med = lambda k: float(np.median([r[k] for r in runs]))
    emit(
        {
            "image": f"kodim{args.image:02d}",
            "preset": args.preset,
            "fit_steps": args.steps,
            "bytes": len(data),
            "bpp": report.bpp,
            "psnr": report.psnr,
            "decode_seconds_median": med("decode_seconds"),
            "split_median": {
                "weights": med("weights_seconds"),
                "latents": med("latents_seconds"),
                "synthesis": med("synthesis_seconds"),
            },
            "decode_seconds_all": [r["decode_seconds"] for r in runs],
        },
        args.out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
