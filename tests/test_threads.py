"""coolchic.fitting.threads: concurrent jobs give ordered results, and a failing job stops the rest."""

import threading
import time

import pytest

from coolchic.fitting.threads import as_completed, map_concurrently


def test_results_in_order_and_jobs_overlap():
    running, peak = [0], [0]
    lock = threading.Lock()

    def job(x):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return x * x

    assert map_concurrently(job, list(range(6)), 3) == [x * x for x in range(6)]
    assert peak[0] == 3


def test_a_failing_job_is_raised_and_no_new_job_starts():
    started = []

    def job(x):
        started.append(x)
        if x == 1:
            raise ValueError("job 1 failed")
        return x

    with pytest.raises(ValueError, match="job 1 failed"):
        list(as_completed(job, [0, 1, 2, 3], 1))
    time.sleep(0.05)
    assert started == [0, 1]
