"""Validation errors as JSON that always encodes: 422 bodies echo the input, and the input may
hold NaN or lone surrogates (JSON), bytes that are not UTF-8 (a body sent as another content
type), or nesting deeper than an encoder recurses, none of which FastAPI's own handler can
encode (it answers 500)."""

from __future__ import annotations

import math
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..codec import MAX_DEPTH

NOT_JSON = "the body must be a JSON object, sent with Content-Type: application/json"
ECHOED_BYTES = 200
CUT = "... (nested too deep to show)"


def encodable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {encodable(k): encodable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encodable(v) for v in value]
    return value


def cut(value: Any, depth: int) -> Any:
    """value with whatever lies deeper than depth levels replaced by a note."""
    if not isinstance(value, dict | list | tuple):
        return value
    if depth <= 0:
        return CUT
    if isinstance(value, dict):
        return {k: cut(v, depth - 1) for k, v in value.items()}
    return [cut(v, depth - 1) for v in value]


def readable(error: dict[str, Any]) -> dict[str, Any]:
    """The error with its echoed input shallow enough to encode. A body that is not JSON
    reaches validation as bytes: say what was expected, and echo its start as text."""
    raw = error.get("input")
    if isinstance(raw, bytes | bytearray):
        shown = bytes(raw[:ECHOED_BYTES]).decode("utf-8", "backslashreplace")
        return {**error, "msg": NOT_JSON, "input": shown}
    if isinstance(raw, dict | list | tuple):
        return {**error, "input": cut(raw, MAX_DEPTH)}
    return error


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = encodable(jsonable_encoder([readable(e) for e in exc.errors()]))
    return JSONResponse({"detail": errors}, status_code=422)
