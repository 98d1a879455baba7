"""Status documents as JSON that always encodes, however deep a task's data nests.

Dispatch refuses arguments nested past codec.MAX_DEPTH, but a task's result, a job stored
before that limit, or a row written by other means may nest deeper than pydantic's serialiser
goes (about 250 levels). Documents are therefore encoded here, and anything too deep even for
the json module is cut short: one such job must never break reading it, nor everyone's list.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from .. import codec
from .problems import cut, encodable

SHOWN_DEPTH = 100  # levels kept when a document must be cut short


def to_json(value: Any) -> str:
    try:
        return codec.dumps(value)
    except (RecursionError, ValueError):
        # Too deep for the encoder, or a NaN that some writer let through.
        return codec.dumps(encodable(cut(value, SHOWN_DEPTH)))


class DocumentResponse(JSONResponse):
    """A JSON response encoded by to_json. Returned as is, it also skips FastAPI's response
    model serialisation (the model still describes the response in /openapi.json)."""

    def render(self, content: Any) -> bytes:
        # A lone surrogate can only sit inside a JSON string, where its backslash-u escape
        # (what backslashreplace writes) is valid JSON.
        return to_json(content).encode("utf-8", "backslashreplace")
