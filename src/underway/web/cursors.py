"""What an event stream's client holds of a job, and the event ids that say so.

An event id is "R.E.O": the client holds the first R results, the first E errors and the first O
characters of output. Results, errors and output only ever grow, so a client that reconnects
with its last id (Last-Event-ID) is sent exactly what it lacks, from any server process.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .. import codec
from .documents import to_json
from .hub import Followed

OUTPUT_CHUNK = 65536  # characters of output per message
_CURSOR = re.compile(r"(\d{1,15})\.(\d{1,15})\.(\d{1,15})")
_ABSENT = object()
T = TypeVar("T")


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
        return self._shared(("whole", self.output), self._whole_text)

    def _whole_text(self) -> str:
        return message(to_json(self.state.document()), event_id=self.event_id)

    def catch_up(self) -> list[str]:
        """What brings the client up to date: the output it lacks, then a change with the fields
        that changed since they were last sent and the entries it lacks (none when nothing is
        new)."""
        texts = self.output_texts()
        change = self._change()
        return texts if change is None else [*texts, change]

    def output_texts(self) -> list[str]:
        """The output the client lacks, in messages of at most OUTPUT_CHUNK characters."""
        state, start = self.state, self.output
        texts = self._shared(("output", self.results, self.errors, start), self._output_texts)
        self.output = len(state.output)
        return list(texts)

    def _output_texts(self) -> list[str]:
        text, offset, texts = self.state.output, self.output, []
        while offset < len(text):
            chunk = text[offset : offset + OUTPUT_CHUNK]
            data = codec.dumps({"offset": offset, "text": chunk})
            offset += len(chunk)
            event_id = f"{self.results}.{self.errors}.{offset}"
            texts.append(message(data, event="output", event_id=event_id))
        return texts

    def _change(self) -> str | None:
        state = self.state
        key = ("change", id(self.head), self.results, self.errors, self.output)
        change = self._shared(key, self._change_text)
        self.results, self.errors, self.head = len(state.results), len(state.errors), state.head
        return change

    def _change_text(self) -> str | None:
        state = self.state
        fields = {k: v for k, v in state.head.items() if self.head.get(k, _ABSENT) != v}
        fields.update((gone, None) for gone in self.head.keys() - state.head.keys())
        new_results, new_errors = state.results[self.results :], state.errors[self.errors :]
        if not (fields or new_results or new_errors):
            return None
        event_id = f"{len(state.results)}.{len(state.errors)}.{self.output}"
        body = {**fields, "new_results": new_results, "new_errors": new_errors}
        return message(to_json(body), event="change", event_id=event_id)

    def _shared(self, key: tuple[Any, ...], build: Callable[[], T]) -> T:
        """Built once per version of the job for every stream whose client held the same: most
        streams follow a job in step, and then share one encoding. (id(self.head) names the
        fields last sent: every holder keeps that dict alive, so its id is not reused.)"""
        messages = self.state.messages
        if key not in messages:
            messages[key] = build()
        found: T = messages[key]
        return found
