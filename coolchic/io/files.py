"""Files written so that a failure never leaves a partial or clobbered output."""

from __future__ import annotations

import json
import os
import tempfile


def atomic_write(path: str | os.PathLike, write_fn, force: bool = True) -> None:
    """Call write_fn(tmp_path) then rename onto path, so a failure never leaves a partial file."""
    path = os.fspath(path)
    if not force and os.path.exists(path):
        raise FileExistsError(f"{path} exists (use --force to overwrite)")
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    os.close(fd)
    try:
        write_fn(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give outputs the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes, force: bool = True) -> None:
    """Write `data` to `path` atomically."""

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write(path, write, force=force)


def write_json(path: str | os.PathLike, obj, force: bool = True, indent: int = 2) -> None:
    """Write `obj` as JSON to `path` atomically (NaN and infinities allowed, as Python writes them)."""

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=indent, allow_nan=True)
            f.write("\n")

    atomic_write(path, write, force=force)
