"""What an event stream's client holds of a job, and the event ids that say so.

An event id is "R.E.O": the client holds the first R results, the first E errors and the first O
characters of output. Results, errors and output only ever grow, so a client that reconnects
with its last id (Last-Event-ID) is sent exactly what it lacks, from any server process.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .. import codec
from .documents import to_json
from .hub import Followed

OUTPUT_CHUNK = 65536  # characters of output per message
_CURSOR = re.compile(r"(\d{1,15})\.(\d{1,15})\.(\d{1,15})")
_ABSENT = object()


def message(data: str, event: str | None = None, event_id: str | None = None) -> str:
    """One SSE message; a multi-line payload becomes one `data:` line per line."""
    head = f"event: {event}\n" if event else ""
    if event_id is not None:
        head += f"id: {event_id}\n"
    return head + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n"


@dataclass(frozen=True, slots=True)
class Cursor:
    results: int
    errors: int
    output: int

    @classmethod
    def parse(cls, text: str) -> Cursor:
        found = _CURSOR.fullmatch(text.strip())
        if found is None:
            raise ValueError(
                f"Last-Event-ID {text[:40]!r} is not an event id of this stream: expected three "
                "counts, as in 12.0.3400 (results, errors, characters of output held)"
            )
        return cls(*(int(n) for n in found.groups()))

    def within(self, state: Followed) -> bool:
        """Could a client of this job hold this much? (Not beyond what the job has.)"""
        return (
            self.results <= len(state.results)
            and self.errors <= len(state.errors)
            and self.output <= len(state.output)
        )


class Held:
    """One stream's client: what it holds of the job, and the messages that bring it up to date
    with the shared state."""

    def __init__(self, state: Followed, cursor: Cursor | None) -> None:
        self.state = state
        self.fresh = cursor is None
        self.results = cursor.results if cursor else 0
        self.errors = cursor.errors if cursor else 0
        self.output = cursor.output if cursor else 0
        self.head: dict[str, Any] = {}  # the fields as last sent

    @property
    def event_id(self) -> str:
        return f"{self.results}.{self.errors}.{self.output}"

    def whole(self) -> str:
        """The whole document: afterwards the client holds every result and error."""
        state = self.state
        self.results, self.errors, self.head = len(state.results), len(state.errors), state.head
        return message(to_json(state.document()), event_id=self.event_id)

    def output_chunks(self) -> Iterator[str]:
        text = self.state.output
        while self.output < len(text):
            start = self.output
            chunk = text[start : start + OUTPUT_CHUNK]
            self.output += len(chunk)
            data = codec.dumps({"offset": start, "text": chunk})
            yield message(data, event="output", event_id=self.event_id)

    def change(self) -> str | None:
        """The fields that changed since they were last sent and the entries the client lacks;
        None when there is nothing new."""
        state = self.state
        fields = {k: v for k, v in state.head.items() if self.head.get(k, _ABSENT) != v}
        fields.update((gone, None) for gone in self.head.keys() - state.head.keys())
        new_results = state.results[self.results :]
        new_errors = state.errors[self.errors :]
        if not (fields or new_results or new_errors):
            return None
        self.results += len(new_results)
        self.errors += len(new_errors)
        self.head = state.head
        body = {**fields, "new_results": new_results, "new_errors": new_errors}
        return message(to_json(body), event="change", event_id=self.event_id)
