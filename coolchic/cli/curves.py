"""``bdrate`` and ``plot`` subcommands: compare rate-distortion curves and plot them.

The main CLI calls :func:`add_parsers` on its subparsers and dispatches to
``args.func(args)``; handlers return an exit code and raise :class:`CurveError`
(one-line message) for missing/unreadable files or curves that cannot be compared.
:func:`main` runs the two subcommands stand-alone
(``python -m coolchic.cli.curves bdrate test.json vtm.json``).
"""

from __future__ import annotations

import argparse
import json
import sys

from coolchic.evaluation import plotting  # looked up per call (tests wrap plot_rd)
from coolchic.evaluation.anchors import AGGREGATIONS, CurveError, load_curve
from coolchic.evaluation.bdrate import METHODS, compare

_AGG_HELP = (
    "how per-image files (Cool-chic .tsv, results.json) are averaged per lambda: "
    "'psnr' = mean of per-image PSNR (as CompressAI and C3 publish), "
    "'mse' = PSNR of the mean MSE (Cool-chic's summaries); default: psnr for results.json, mse for .tsv"
)


def _fmt_record(r: dict) -> str:
    lo, hi = r["psnr_range_db"]
    bd_psnr = "n/a" if r["bd_psnr_db"] is None else f"{r['bd_psnr_db']:+.3f} dB"
    return (
        f"BD-rate of {r['test']} vs {r['anchor']}: {r['bd_rate_percent']:+.2f} % "
        f"(BD-PSNR {bd_psnr}; {r['method']}, PSNR {lo:.2f}-{hi:.2f} dB; "
        f"averaging {r['test_aggregation']} vs {r['anchor_aggregation']})"
    )


def cmd_bdrate(args: argparse.Namespace) -> int:
    """Print the BD-rate (%) of CURVE against ANCHOR; with --json, a JSON line follows."""
    test = load_curve(args.curve, aggregate=args.aggregate)
    anchor = load_curve(args.anchor, aggregate=args.aggregate)
    record = compare(test, anchor, method=args.method)
    print(_fmt_record(record))
    if args.json:
        print(json.dumps(record))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """Plot RESULTS (solid) and each --anchor (dashed) to -o; print BD-rates against the anchors."""
    curve = load_curve(args.results, aggregate=args.aggregate)
    anchors = [load_curve(a, aggregate=args.aggregate) for a in args.anchor]
    out = plotting.plot_rd([curve], args.output, title=args.title, anchors=anchors)
    for a in anchors:
        try:
            print(_fmt_record(compare(curve, a, method=args.method)))
        except CurveError as e:
            print(f"BD-rate of {curve.name} vs {a.name}: n/a ({e})")
    print(f"wrote {out}")
    return 0


def add_parsers(subparsers) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """Add the ``bdrate`` and ``plot`` subcommands (each with ``func=``) to ``subparsers``."""
    p = subparsers.add_parser(
        "bdrate",
        help="BD-rate (%%) of a curve against an anchor (negative = fewer bits)",
        description="Bjøntegaard delta rate of CURVE (test) against ANCHOR, in percent; negative means "
        "CURVE needs fewer bits for the same PSNR. Curves: CompressAI .json, C3 .csv, Cool-chic .tsv "
        "or this library's results.json.",
    )
    p.add_argument("curve", help="the test curve")
    p.add_argument("anchor", help="the reference curve")
    p.add_argument("--method", choices=METHODS, default="cubic", help="cubic polynomial fit (default) or pchip")
    p.add_argument("--aggregate", choices=AGGREGATIONS, default=None, help=_AGG_HELP)
    p.add_argument("--json", action="store_true", help="also print the result as one JSON line (last line)")
    p.set_defaults(func=cmd_bdrate)

    q = subparsers.add_parser(
        "plot",
        help="plot rate-distortion curves (bpp vs PSNR) to a PNG",
        description="Plot RESULTS (any curve format) with optional anchors (dashed) and print the "
        "BD-rate of RESULTS against each anchor.",
    )
    q.add_argument("results", help="curve to plot (results.json, .json, .csv or .tsv)")
    q.add_argument("--anchor", action="append", default=[], metavar="FILE", help="anchor curve (repeatable)")
    q.add_argument("-o", "--output", required=True, help="output PNG path")
    q.add_argument("--title", default=None, help="plot title")
    q.add_argument("--method", choices=METHODS, default="cubic", help="BD method for the printed BD-rates")
    q.add_argument("--aggregate", choices=AGGREGATIONS, default=None, help=_AGG_HELP)
    q.set_defaults(func=cmd_plot)
    return p, q


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: parse ``argv``, run the subcommand, map CurveError to exit 1."""
    parser = argparse.ArgumentParser(prog="coolchic-curves", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add_parsers(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except CurveError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
