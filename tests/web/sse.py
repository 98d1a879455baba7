"""Reading job event streams as a client does: messages with their event, id and data, and a
follower that rebuilds the job's document from the whole documents and changes it receives."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Message:
    event: str  # "message" for plain data
    data: str
    id: str | None = None
    comment: str | None = None  # a comment line (keep-alive) instead of a message

    def json(self) -> Any:
        return json.loads(self.data)


def messages(lines: Iterable[str]) -> Iterator[Message]:
    """SSE messages from the stream's lines; comments as messages with only comment set."""
    event, data, event_id = "message", [], None
    for line in lines:
        if line.startswith(":"):
            yield Message("", "", comment=line[1:].strip())
        elif line.startswith("data: "):
            data.append(line[len("data: ") :])
        elif line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("id: "):
            event_id = line[len("id: ") :]
        elif line == "" and (data or event != "message"):
            yield Message(event, "\n".join(data), event_id)
            event, data, event_id = "message", [], None


class Follower:
    """The job as a client following the stream holds it."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {}
        self.output = ""
        self.last_id: str | None = None
        self.results_seen: list[Any] = []  # every result as it arrived, duplicates included
        self.output_offsets: list[int] = []  # where each output chunk started
        self.ended: dict[str, Any] | None = None
        self.gone = False

    def take(self, message: Message) -> bool:
        """Apply one message; True when it changed the document or output."""
        if message.comment is not None:
            return False
        if message.id is not None:
            self.last_id = message.id
        if message.event == "message":
            self.document = message.json()
        elif message.event == "change":
            body = message.json()
            new_results, new_errors = body.pop("new_results"), body.pop("new_errors")
            self.document.update(body)
            self.document.setdefault("results", []).extend(new_results)
            self.document.setdefault("errors", []).extend(new_errors)
            self.results_seen.extend(new_results)
        elif message.event == "output":
            chunk = message.json()
            self.output_offsets.append(chunk["offset"])
            self.output = self.output[: chunk["offset"]] + chunk["text"]
        elif message.event == "end":
            self.ended = message.json()
        elif message.event == "gone":
            self.gone = True
        return message.event in ("message", "change", "output")
