"""Logging that suits where pingd runs: journald priorities under systemd, plain lines elsewhere."""

from __future__ import annotations

import logging
import os
import sys

# syslog priorities, so `journalctl -p warning` works on what pingd writes to stderr.
_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


class JournalFormatter(logging.Formatter):
    """``<6>message``: journald adds the time and the unit itself."""

    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6)
        return f"<{priority}>{super().format(record)}"


def under_journald() -> bool:
    """True when stderr is the journal stream systemd gave us (see systemd.exec(5))."""
    stream = os.environ.get("JOURNAL_STREAM", "")
    if ":" not in stream:
        return False
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return stream == f"{st.st_dev}:{st.st_ino}"


def setup(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if under_journald():
        handler.setFormatter(JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s pingd[%(process)d] %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    set_level(level)


def set_level(level: str) -> None:
    logging.getLogger("pingd").setLevel(level.upper())
    # zeroconf is chatty at INFO about things that are not ours to report.
    logging.getLogger().setLevel(logging.WARNING)
