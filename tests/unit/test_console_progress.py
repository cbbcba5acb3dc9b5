"""Spark's stage progress line shows on a terminal only (flowmosaic.spark.session)."""

import io
import os
import pty

from flowmosaic.spark.session import console_progress


def test_progress_line_on_a_terminal_only():
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as tty:
            assert console_progress(tty) == "true"
    finally:
        os.close(leader)
        os.close(follower)
    assert console_progress(io.StringIO()) == "false"  # captured output, a log file
    with open(os.devnull, "w") as null:
        assert console_progress(null) == "false"
    assert console_progress(object()) == "false"  # no isatty at all
