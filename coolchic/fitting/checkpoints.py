"""Checkpoints of a fit: the FitState (orbax) and a JSON description of the fit it belongs to.

A checkpoint directory holds `state/` and `meta.json`; both are replaced whole, so an interrupted
save leaves the previous checkpoint readable.
"""

from __future__ import annotations

import json
import os
import shutil
import threading

from coolchic.io.files import write_json

# Orbax keys its completion signals per process, not per checkpointer: concurrent saves from the candidate
# threads (batch="threads") can hang or fail. One save or restore at a time.
_ORBAX_LOCK = threading.Lock()


def _paths(directory: str) -> tuple[str, str]:
    return os.path.join(directory, "state"), os.path.join(directory, "meta.json")


def save_checkpoint(directory: str, stage_index: int, state, meta: dict) -> None:
    """Save `state` (a FitState, or any pytree of arrays) reached in stage `stage_index`, with
    `meta` (a JSON-able dict) and the stage index in meta.json."""
    import orbax.checkpoint as ocp

    directory = os.path.abspath(directory)
    os.makedirs(directory, exist_ok=True)
    state_path, meta_path = _paths(directory)
    with _ORBAX_LOCK, ocp.StandardCheckpointer() as ckpt:
        ckpt.save(state_path + ".tmp", state, force=True)
        ckpt.wait_until_finished()
    if os.path.exists(state_path):
        shutil.rmtree(state_path)
    os.replace(state_path + ".tmp", state_path)
    write_json(meta_path, {**meta, "stage_index": stage_index})


def load_checkpoint(directory: str, target):
    """The state saved in `directory`, restored with the structure, shapes and dtypes of `target`."""
    import orbax.checkpoint as ocp

    state_path, _ = _paths(os.path.abspath(directory))
    with _ORBAX_LOCK, ocp.StandardCheckpointer() as ckpt:
        return ckpt.restore(state_path, target)


def checkpoint_meta(directory: str) -> dict | None:
    """The meta saved with the checkpoint in `directory` (with its "stage_index"), None if none."""
    _, meta_path = _paths(os.path.abspath(directory))
    if not os.path.exists(meta_path):
        return None
    with open(meta_path) as f:
        return json.load(f)
