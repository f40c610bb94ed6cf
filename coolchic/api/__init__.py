"""High-level calls over images and videos: fit, encode to bytes, decode (coolchic re-exports them)."""
