"""Structured log lines: `event=name key=value ...` messages become one JSON object per line.

Formatting and writing happen on a background thread (QueueHandler → QueueListener), so a
log call on the decision path costs a queue put, never a write.
"""

from __future__ import annotations

import atexit
import copy
import json
import logging
import logging.handlers
import queue
import shlex
import sys
import time
from typing import Any

RESERVED = frozenset({"ts", "level", "logger", "exc", "msg"})
"""Set by the formatter, never by a message: a value that smuggles `level=debug` into a line
(a caller's `who`, say) cannot rewrite it."""


def _fields(message: str) -> dict[str, Any]:
    """`key=value` words; the first of a repeated key wins (the event's own fields come before
    any text they quote), and the formatter's own keys are refused."""
    out: dict[str, Any] = {}
    try:
        words = shlex.split(message, posix=True)
    except ValueError:
        words = message.split()
    for word in words:
        key, sep, value = word.partition("=")
        if sep and key.isidentifier() and key not in RESERVED and key not in out:
            out[key] = value
    return out


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = _fields(message) if "event=" in message else {}
        if fields:
            line.update(fields)
        else:
            line["msg"] = message
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:  # formatted by `_Handoff` on the caller's thread
            line["exc"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


class _Handoff(logging.handlers.QueueHandler):
    """Hands the record to the writer thread with its message and traceback as text, apart:
    the stock `prepare` folds the traceback into the message, where it is lost to `exc` and
    its words read as fields."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = copy.copy(record)
        record.msg, record.args = record.getMessage(), None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        record.stack_info = None
        return record


def configure_logging(fmt: str = "json", level: str = "INFO", stream: Any = None) -> None:
    """Route every rlexec logger through one background writer (idempotent)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    q: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(q, handler)
    root = logging.getLogger("rlexec")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(_Handoff(q))
    root.setLevel(level)
    root.propagate = False
    listener.start()
    atexit.register(listener.stop)
