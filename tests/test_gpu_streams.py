"""Files coded on a GPU decode on this CPU to the encoder's pixels.

tests/data/h100/*.cool are kodim01-03 fitted and coded on an H100 (benchmarks/gpu_check.sh, C3
recipe, lambda 1e-3); benchmarks/results/gpu/paper_h100.json records the MD5 of the pixels the
encoder reconstructed there, its PSNR and its file sizes. The range coder's probabilities come
from the integer ARM, so the decoded pixels must match bit for bit on any machine; a change to
the bitstream format or to the integer ARM fails here.
"""

import hashlib
import json
import os

import numpy as np
import pytest
from conftest import KODAK, REPO

from coolchic.coding.image_codec import decode
from coolchic.evaluation.metrics import psnr
from coolchic.io.image import read_image, to_integers

STREAMS = os.path.join(REPO, "tests", "data", "h100")
ROWS = json.load(open(os.path.join(REPO, "benchmarks", "results", "gpu", "paper_h100.json")))["rows"]


@pytest.mark.parametrize("row", ROWS, ids=[r["image"] for r in ROWS])
def test_gpu_coded_file_decodes_to_the_encoders_pixels(row):
    with open(os.path.join(STREAMS, f"{row['image']}.cool"), "rb") as f:
        data = f.read()
    assert len(data) == row["bytes"]
    rec, header, _ = decode(data)
    assert header.version == 1  # written before format 2: the reader keeps reading version 1
    assert (header.height, header.width) == (512, 768)
    pixels = to_integers(rec.transpose(1, 2, 0), header.bit_depth)
    assert hashlib.md5(pixels.astype(np.uint16).tobytes()).hexdigest() == row["decoded_md5"]
    original = os.path.join(KODAK, f"{row['image']}.png")
    if os.path.exists(original):
        assert psnr(read_image(original).pixels, rec.transpose(1, 2, 0)) == pytest.approx(row["psnr"], abs=1e-3)
