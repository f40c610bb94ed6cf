"""File bits vs estimated bits of the learned baselines with (briefly) trained weights.

    python benchmarks/baselines_rate.py [--models bmshj2018-hyperprior mbt2018-mean mbt2018 cheng2020-anchor
        cheng2020-attn] [--steps 300 [1000 ...]] [--lr 1e-3] [--lmbda 0.0067] [--crop 128] [--batch 8]
        [--N 32 --M 48] [--eval 23 19] [--eval-size 256] [--runs DIR] [--out F.json]

Each model is trained with ``baselines.train.train`` on random crops of the Kodak images
minus the evaluation images (so the evaluation crops are unseen), then loaded with
``baselines.load_codec(ckpt=...)`` and used to compress a centred ``eval-size`` square crop
of each evaluation image (default kodim23, kodim19). With several ``--steps`` values the same
run is resumed to each total in turn and measured at each (train seconds are cumulative).

Per (model, steps, image): file bits; the estimate ``-sum log2 likelihoods`` of what was coded
(``baselines.coding.coded_bits``: the forward's, except for the y of the Gaussian autoregressive
models, costed with the entropy parameters of the coded context) plus the header bits (what
``test_file_bits_match_estimate`` compares); ratio file / (estimate + header); the same with the
forward's estimate (``ratio_forward``: CompressAI's forward uses ``round(y)`` as the autoregressive
context, not the coded ``round(y - mu) + mu``); bpp = file bits / pixels; PSNR of the decoded 8-bit
image; whether ``decompress`` reproduces the encoder's ``x_hat`` bit for bit; the per-part split
(z: payload words vs ``bits_z``; y: payload words + escape bytes vs the y estimate). For the
autoregressive models ``bits_y_coded_context_forward`` recomputes the coded y's cost with one
full-image masked convolution over the coded latents (a cross-check of the coder's per-front sum).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import jax.numpy as jnp
import numpy as np
from _common import KODAK, emit, kodak

from baselines import load_codec
from baselines.coding import coded_bits
from baselines.train import train
from coolchic.evaluation.metrics import psnr
from coolchic.io.image import read_image, to_integers

DEFAULT_MODELS = [
    "bmshj2018-factorized",
    "bmshj2018-hyperprior",
    "mbt2018-mean",
    "mbt2018",
    "cheng2020-anchor",
    "cheng2020-attn",
]


def centre_crop(x: np.ndarray, size: int) -> tuple:
    h, w = x.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return x[top : top + size, left : left + size], [top, left, size, size]


def _coded_context_bits_y(codec, y_hat: np.ndarray, z_hat: np.ndarray) -> float:
    """-sum log2 p(coded y) with the entropy parameters of the coded context (Gaussian AR head)."""

    def f(m, y_hat, z_hat):
        gp = m.entropy_parameters(jnp.concatenate([m.h_s(z_hat), m.context_prediction(y_hat)], -1))
        scales, means = jnp.split(gp, 2, -1)
        gc = m.gaussian_conditional
        lik = gc.likelihood(y_hat, scales, means)
        return jnp.maximum(lik, gc.likelihood_bound) if gc.likelihood_bound > 0 else lik

    lik = codec.model.apply(codec.variables, jnp.asarray(y_hat[None]), jnp.asarray(z_hat[None]), method=f)
    return float(-np.log2(np.asarray(lik, np.float64)).sum())


def measure(codec, x: np.ndarray) -> dict:
    h, w = x.shape[:2]
    t0 = time.perf_counter()
    data, info = codec.compress(x, 8)
    enc_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    x_dec, _ = codec.decompress(data)
    dec_s = time.perf_counter() - t0
    est = codec.estimate(x)
    parts = info["bytes_by_part"]
    header_bits = 8 * parts["header"]
    file_bits = 8 * len(data)
    est_bits = coded_bits(est, info)
    fwd_bits = est["bits_y"] + est["bits_z"]
    row = {
        "file_bits": file_bits,
        "estimated_bits": est_bits,
        "header_bits": header_bits,
        "estimate_plus_header": est_bits + header_bits,
        "ratio": file_bits / (est_bits + header_bits),
        "estimated_bits_forward": fwd_bits,
        "ratio_forward": file_bits / (fwd_bits + header_bits),
        "bpp": file_bits / (h * w),
        "bpp_estimated": est_bits / (h * w),
        "psnr": psnr(x, to_integers(x_dec, 8).astype(np.float32) / 255.0),
        "psnr_forward": psnr(x, np.clip(est["x_hat"], 0, 1)),
        "exact_decode": bool(np.array_equal(x_dec, info["x_hat"])),
        "bytes_by_part": parts,
        "z": {"file_bits": 8 * parts["z"], "estimated_bits": est["bits_z"]},
        "y": {"file_bits": 8 * (parts["y"] + parts["escapes"]), "estimated_bits": est_bits - est["bits_z"]},
        "latent_range": [float(info["y_hat"].min()), float(info["y_hat"].max())],
        "encode_seconds": enc_s,
        "decode_seconds": dec_s,
    }
    for part in ("y", "z"):
        e = row[part]["estimated_bits"]
        row[part]["ratio"] = row[part]["file_bits"] / e if e > 0 else None
    if codec.kind == "ar" and codec.head == "gaussian":
        row["bits_y_coded_context_forward"] = _coded_context_bits_y(codec, info["y_hat"], info["z_hat"])
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    ap.add_argument("--steps", type=int, nargs="+", default=[300], help="training totals, measured at each")
    ap.add_argument("--lmbda", type=float, default=0.0067)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--crop", type=int, default=128, help="training crop")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--N", type=int, default=32)
    ap.add_argument("--M", type=int, default=48, help="ignored for cheng2020 (M = N)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps-per-call", type=int, default=10)
    ap.add_argument("--eval", type=int, nargs="+", default=[23, 19], help="Kodak indexes (excluded from training)")
    ap.add_argument("--eval-size", type=int, default=256)
    ap.add_argument("--runs", help="training output folder (default: a temporary one, removed at the end)")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    steps = sorted(set(args.steps))

    evals = {}
    for i in args.eval:
        x, box = centre_crop(read_image(kodak(i)).pixels, args.eval_size)
        evals[f"kodim{i:02d}"] = (np.ascontiguousarray(x), box)
    tmp = tempfile.mkdtemp(prefix="baselines_rate_")
    runs_dir = args.runs or os.path.join(tmp, "runs")
    data_dir = os.path.join(tmp, "data")
    os.makedirs(data_dir)
    excluded = {f"kodim{i:02d}.png" for i in args.eval}
    train_files = sorted(f for f in os.listdir(KODAK) if f.endswith(".png") and f not in excluded)
    for f in train_files:
        os.symlink(os.path.abspath(os.path.join(KODAK, f)), os.path.join(data_dir, f))

    rows = []
    try:
        for name in args.models:
            out = os.path.join(runs_dir, name)
            M = None if name.startswith("cheng2020") else args.M
            seconds = 0.0
            for k, total in enumerate(steps):
                r = train(
                    name,
                    data_dir,
                    args.lmbda,
                    total,
                    out,
                    crop=args.crop,
                    batch=args.batch,
                    lr=args.lr,
                    seed=args.seed,
                    resume=k > 0,
                    N=args.N,
                    M=M,
                    steps_per_call=args.steps_per_call,
                    save_every=max(steps),
                    progress=False,
                )
                seconds += r["seconds"]
                last = r["history"][-1] if r["history"] else None
                codec = load_codec(ckpt=out)
                for img, (x, box) in evals.items():
                    row = {
                        "model": name,
                        "steps": r["step"],
                        "train_seconds": seconds,
                        "image": img,
                        "crop": box,
                        **({"train_final": dict(zip(("step", "loss", "bpp", "mse", "aux"), last))} if last else {}),
                        **measure(codec, x),
                    }
                    rows.append(row)
                    print(
                        f"{name:22s} steps={row['steps']:5d} train={seconds:7.1f}s {img} file={row['file_bits']}"
                        f" est+hdr={row['estimate_plus_header']:.0f} ratio={row['ratio']:.4f} bpp={row['bpp']:.4f}"
                        f" psnr={row['psnr']:.2f} exact={row['exact_decode']} ratio_forward={row['ratio_forward']:.4f}",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    emit(
        {
            "config": {
                "models": args.models,
                "steps": steps,
                "lmbda": args.lmbda,
                "lr": args.lr,
                "crop": args.crop,
                "batch": args.batch,
                "N": args.N,
                "M": args.M,
                "seed": args.seed,
                "eval": list(evals),
                "eval_size": args.eval_size,
                "train_images": train_files,
                "runs": args.runs,
            },
            "rows": rows,
            "max_abs_ratio_deviation": max(abs(r["ratio"] - 1) for r in rows) if rows else None,
            "within_2pct": all(abs(r["ratio"] - 1) <= 0.02 for r in rows),
        },
        args.out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
