"""Files in and out: images (PNG/PPM/PGM), videos (y4m, raw .yuv, PNG folders, GIF), colour
conversion, and atomic writes."""
