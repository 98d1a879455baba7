"""Formatting for the dashboard's templates: pure functions of their arguments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode as _urlencode

from ..model import JobRecord, iso


def when(iso_time: str | None) -> str:
    """2026-01-02T03:04:05.678Z -> 2026-01-02 03:04:05 (times are UTC everywhere)."""
    return iso_time[:19].replace("T", " ") if iso_time else "-"


def epoch(timestamp: float | None) -> str:
    return when(iso(timestamp))


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"
    minutes, rest = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def money(value: Any) -> str:
    return f"${value:.4f}" if isinstance(value, int | float) else str(value)


def number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def usage_value(key: str, value: Any) -> str:
    return money(value) if "cost" in key.lower() else number(value)


def label(result: Mapping[str, Any]) -> str:
    """What a result is about: its item, issue id, file or name, whichever it has."""
    for key in ("item", "issue_id", "file", "name", "id"):
        if key in result:
            return str(result[key])
    return ""


def ok(result: Mapping[str, Any]) -> bool:
    return result.get("success", result.get("ok", True)) is not False


def first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0]


def percent_text(progress: Mapping[str, Any]) -> str:
    return "" if progress.get("percent") is None else f"{progress['percent']:g} %"


def counts_text(progress: Mapping[str, Any]) -> str:
    total = progress.get("total")
    return f"{progress['processed']} / {total}" if total is not None else f"{progress['processed']}"


def timing(record: JobRecord, now: float) -> dict[str, float | None]:
    """How long the job waited for a worker and how long its last attempt ran."""
    started, ended = record.started_at, record.completed_at
    return {
        "waited": (started - record.available_at) if started else None,
        "ran": ((ended or now) - started) if started and record.status.value != "pending" else None,
    }


def urlencode(values: Mapping[str, Any]) -> str:
    return _urlencode({k: v for k, v in values.items() if v not in (None, "")})


def query_with(params: Mapping[str, Any], **changes: Any) -> str:
    merged = {k: v for k, v in params.items() if k not in ("fragment", "done", "n")}
    merged.update(changes)
    return urlencode(merged)


FILTERS = {
    "when": when,
    "epoch": epoch,
    "seconds": seconds,
    "money": money,
    "number": number,
    "label": label,
    "first_line": first_line,
    "percent_text": percent_text,
    "counts_text": counts_text,
    "ok": ok,
    "usage_value": usage_value,
}
