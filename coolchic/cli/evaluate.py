"""`coolchic eval`: the command line of coolchic.evaluation.runner."""

from __future__ import annotations

import sys

from coolchic.cli.options import add_preset_arg, add_recipe_arg, positive_float, positive_int
from coolchic.evaluation.anchors import load_curve
from coolchic.evaluation.runner import bd_rate_line, evaluate_images, format_means


def cmd_eval(args) -> int:
    if args.anchor:  # fail before hours of fitting, not after
        load_curve(args.anchor)
    doc = evaluate_images(
        args.inputs,
        args.lmbda,
        args.steps,
        args.preset,
        args.recipe,
        args.out,
        crop=args.crop,
        progress=not args.quiet,
        seed=args.seed,
        batch=args.batch,
        jobs=args.jobs,
    )
    print(
        f"{doc['name']}: {len({r['image'] for r in doc['images']})} image(s); means per lambda "
        f"(bpp from file bytes, PSNR averaged per image):"
    )
    print(format_means(doc))
    if args.anchor:
        print(bd_rate_line(args.out, args.anchor, method="cubic"))
    print(f"wrote {args.out}")
    if doc["mismatches"]:
        bad = ", ".join(f"{i}@{lm:g}" for i, lm in doc["mismatches"])
        print(f"coolchic eval: error: decoded pixels differ from the encoder's for {bad}", file=sys.stderr)
        return 1
    return 0


def add_parser(subparsers):
    """Add the `eval` subcommand (with func=cmd_eval) to the CLI's subparsers."""
    e = subparsers.add_parser(
        "eval",
        help="encode + decode images at several lambdas; per-image and mean bpp/PSNR/time to results.json",
        description="For every image and lambda: fit, write the real bitstream (in memory), decode it, check "
        "the decoded pixels equal the encoder's reconstruction, and record bpp (from the file bytes), estimated "
        "bpp, PSNR, MS-SSIM, MACs/pixel and encode/decode seconds. Per-lambda means: total bits / total pixels "
        "and the mean of per-image PSNR (as CompressAI and C3 average). RESULTS is rewritten atomically after "
        "every row; running again skips the rows already there with the same steps/preset/recipe/crop/seed.",
    )
    e.add_argument(
        "inputs", nargs="+", metavar="DIR_OR_FILE", help="PNG/PPM/PGM files, or directories of them (not recursive)"
    )
    e.add_argument(
        "--lmbda",
        type=positive_float,
        nargs="+",
        required=True,
        metavar="L",
        help="one or more rate-distortion trade-offs",
    )
    e.add_argument("--steps", type=positive_int, default=None, help="fitting steps (default: the preset's)")
    add_preset_arg(e, "c3-kodak")
    add_recipe_arg(e)
    e.add_argument("--crop", default=None, metavar="HxW", help="fit the centred HxW crop of each image (fast studies)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--out", required=True, metavar="RESULTS.json", help="results file (created or resumed)")
    e.add_argument(
        "--anchor",
        metavar="FILE",
        help="print the BD-rate (cubic) of the results against this curve "
        "(.json CompressAI, .csv C3, .tsv Cool-chic, or a results.json)",
    )
    e.add_argument(
        "--batch", action="store_true", help="fit the images of one size together, per lambda, in one vmapped loop"
    )
    e.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        metavar="N",
        help="run N (image, lambda) fits concurrently, each its own fit (the same files as one "
        "job; each row's encode_seconds then counts shared cores)",
    )
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    e.set_defaults(func=cmd_eval)
    return e
