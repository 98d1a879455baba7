"""Values as PostgreSQL can hold them: JSON text for jsonb columns and text without NUL.

PostgreSQL cannot store the NUL character in text or jsonb: arguments that hold one are
refused at dispatch; values a worker writes (results, progress, errors) get U+FFFD instead.
"""

from __future__ import annotations

import re
from typing import Any

from ... import codec

_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def json_text(value: Any, strict: bool = False, text: str | None = None) -> str:
    """JSON text for a jsonb column (text: value already encoded); strict refuses a NUL."""
    text = codec.dumps(value) if text is None else text
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        if strict:
            raise ValueError(
                "arguments contain a NUL character (\\u0000), which PostgreSQL cannot store"
            )
        text = _NUL_ESCAPE.sub(r"\1\\ufffd", text)
    return text


def plain_text(value: str | None) -> str | None:
    return None if value is None else value.replace("\x00", "\ufffd")
