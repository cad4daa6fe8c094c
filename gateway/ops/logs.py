"""Log output: the usual text lines, or with FORVARV_LOG_FORMAT=json one JSON object per line.

A JSON line has `time` (UTC, ISO 8601), `level`, `logger`, `message`, `exception` (when there is
one) and the record's structured fields: an access line (gateway/ops/access.py) adds
`request_id`, `method`, `path`, `status`, `duration_ms`, `remote`, `supplier` / `library` /
`admin` when known and `reason` for a refusal. Written with the standard library (json and
logging): the formatter is the few lines below.
"""

from __future__ import annotations

import datetime
import json
import logging

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "access", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def setup(level: int, log_format: str) -> None:
    # Neither format shows where a line was logged from, nor the thread or process: not looking
    # them up saves about a third of each line's cost (the logging HOWTO's "Optimization"), which
    # the access log (gateway/ops/access.py) pays on every request.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
