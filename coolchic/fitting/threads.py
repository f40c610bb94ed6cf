"""Independent jobs (whole fits) run concurrently on threads.

JAX releases the GIL while XLA runs, so two fits on two threads keep two cores busy where the
small ops of one fit leave a core idle part of the time (see coolchic.fitting.candidates.batch_mode).
The threads are daemons: an interrupted run (Ctrl-C, or an error in one job) stops handing out
jobs and returns at once instead of waiting for the running fits to finish.
"""

from __future__ import annotations

import queue
import threading


def as_completed(fn, items: list, workers: int):
    """Yield (index, fn(item)) as the jobs finish, at most `workers` at a time; an exception in
    a job is raised here, and no further job starts."""
    todo: queue.Queue = queue.Queue()
    for job in enumerate(items):
        todo.put(job)
    done: queue.Queue = queue.Queue()
    stop = threading.Event()

    def work():
        while not stop.is_set():
            try:
                i, item = todo.get_nowait()
            except queue.Empty:
                return
            try:
                done.put((i, None, fn(item)))
            except BaseException as e:  # handed to the consumer
                stop.set()
                done.put((i, e, None))

    for _ in range(min(workers, len(items))):
        threading.Thread(target=work, daemon=True).start()
    try:
        for _ in range(len(items)):
            while True:
                try:
                    i, error, result = done.get(timeout=0.2)  # a timeout keeps Ctrl-C responsive
                    break
                except queue.Empty:
                    continue
            if error is not None:
                raise error
            yield i, result
    finally:
        stop.set()  # on an early exit, no new job starts


def map_concurrently(fn, items: list, workers: int) -> list:
    """[fn(item) for item in items], computed by `workers` threads."""
    out = [None] * len(items)
    for i, result in as_completed(fn, items, workers):
        out[i] = result
    return out
