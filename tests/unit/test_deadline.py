import threading
import time

import pytest

from spark_tui.deadline import DeadlineExceeded, call_with_deadline


def test_returns_the_value():
    assert call_with_deadline(lambda: 42, 5) == 42


def test_reraises_the_calls_own_error():
    def boom() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        call_with_deadline(boom, 5)


def test_a_stuck_call_is_abandoned_in_a_daemon_thread():
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        call_with_deadline(lambda: release.wait(60), 0.2, name="stuck-for-test")
    assert time.monotonic() - started < 30  # it returned, long before the call would have
    stuck = [t for t in threading.enumerate() if t.name == "stuck-for-test"]
    assert stuck and all(t.daemon for t in stuck)  # never keeps the process alive
    release.set()
