"""Offline weekly reports: a structured Markdown summary of journal entries, without a model.

Entries are mappings or objects with ``id``, ``date`` (a date, datetime or ISO string),
``title``, ``text`` and optionally ``mood`` and ``tags``. The same entries always give the same
report, whatever their order.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

OFFLINE_NOTE = (
    "Written offline without an AI model: a rule-based summary of the entries. "
    "Set GEMINI_API_KEY or OPENAI_API_KEY for an AI-written report."
)

_MAX_THEMES = 6
_MAX_HIGHLIGHT = 220

_STOP_WORDS_TEXT = """
    a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each few for from further get got had hadn't has hasn't have
    haven't having he her here hers herself him himself his how i i'm i've if in into is isn't it
    it's its itself just let's like me more most much my myself no nor not now of off on once
    one only or other ought our ours ourselves out over own really same she should shouldn't so
    some still such than that that's the their theirs them themselves then there there's these
    they they're this those through to today too under until up us very was wasn't we we're
    we've were weren't what when where which while who whom why will with won't would wouldn't
    yet you you're your yours yourself yourselves day week lot things thing went made make
"""
_STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
_WORD = re.compile(r"[a-z][a-z'-]*[a-z]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


@dataclass(frozen=True)
class _Entry:
    id: str
    day: date
    title: str
    text: str
    mood: str
    tags: tuple[str, ...]


def _fmt(day: date) -> str:
    return day.strftime("%b %d, %Y")


def report_period(entries: Iterable[Any]) -> dict[str, str]:
    """``{"start": "Feb 01, 2026", "end": "Feb 07, 2026"}``: first and last entry dates."""
    days = [e.day for e in _normalise(entries)]
    return {"start": _fmt(min(days)), "end": _fmt(max(days))}


def offline_report(entries: Iterable[Any]) -> str:
    """A Markdown weekly report: period, summary, recurring themes, per-day highlights."""
    items = _normalise(entries)
    first, last = items[0].day, items[-1].day
    by_day: dict[date, list[_Entry]] = {}
    for entry in items:
        by_day.setdefault(entry.day, []).append(entry)

    lines = [
        "# Weekly Progress Report",
        "",
        f"**Period:** {_fmt(first)} to {_fmt(last)}",
        "",
        "## Summary",
        "",
        *_summary(items, by_day, first, last),
        "",
        "## Recurring Themes",
        "",
        *_themes(items),
        "",
        "## Daily Highlights",
    ]
    for day in sorted(by_day):
        lines += ["", f"### {day.strftime('%A')}, {_fmt(day)}", ""]
        lines += [_highlight(entry) for entry in by_day[day]]
    lines += ["", "---", "", f"_{OFFLINE_NOTE}_", ""]
    return "\n".join(lines)


def _summary(
    items: list[_Entry], by_day: dict[date, list[_Entry]], first: date, last: date
) -> list[str]:
    entries = _plural(len(items), "entry", "entries")
    days = _plural(len(by_day), "day", "days")
    busiest = max(sorted(by_day), key=lambda d: len(by_day[d]))
    lines = [f"- {entries} written on {days}."]
    if len(by_day) > 1:
        lines.append(
            f"- Busiest day: {busiest.strftime('%A')}, {_fmt(busiest)} "
            f"({_plural(len(by_day[busiest]), 'entry', 'entries')})."
        )
    span = (last - first).days + 1
    if span <= 31:
        quiet = [first + timedelta(n) for n in range(span) if first + timedelta(n) not in by_day]
        if quiet:
            lines.append("- No entries on: " + ", ".join(_fmt(d) for d in quiet) + ".")
    moods = Counter(e.mood.lower() for e in items if e.mood)
    if moods:
        ranked = sorted(moods.items(), key=lambda kv: (-kv[1], kv[0]))
        lines.append("- Mood: " + ", ".join(f"{_md(m)} ({n})" for m, n in ranked) + ".")
    tags = Counter(t.lower() for e in items for t in e.tags)
    if tags:
        ranked = sorted(tags.items(), key=lambda kv: (-kv[1], kv[0]))
        lines.append("- Tags: " + ", ".join(f"{_md(t)} ({n})" for t, n in ranked) + ".")
    return lines


def _themes(items: list[_Entry]) -> list[str]:
    """Words found in several entries, ranked by how many entries mention them, then how often."""
    in_entries: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for entry in items:
        words = _words(f"{entry.title} {entry.text}")
        total.update(words)
        in_entries.update(set(words))
    ranked = sorted(total, key=lambda w: (-in_entries[w], -total[w], w))
    recurring = [w for w in ranked if in_entries[w] >= 2][:_MAX_THEMES]
    if recurring:
        return [
            f"- **{_md(w)}**: in {in_entries[w]} of {len(items)} entries "
            f"({_plural(total[w], 'mention', 'mentions')})"
            for w in recurring
        ]
    if not ranked:
        return ["- No themes: the entries have no text to compare."]
    top = ", ".join(_md(w) for w in ranked[:_MAX_THEMES])
    return [f"- No theme recurs across entries; most mentioned words: {top}."]


def _words(text: str) -> list[str]:
    words = []
    for raw in _WORD.findall(text.lower().replace("\u2019", "'")):
        word = raw.removesuffix("'s")
        if len(word) >= 3 and word not in _STOP_WORDS:
            words.append(word)
    return words


def _highlight(entry: _Entry) -> str:
    line = f"- **{_md(entry.title) or 'Untitled'}**"
    sentence = _first_sentence(entry.text)
    if sentence:
        line += f": {_md(sentence)}"
    extras = []
    if entry.mood:
        extras.append(f"mood: {_md(entry.mood)}")
    if entry.tags:
        extras.append("tags: " + ", ".join(_md(t) for t in entry.tags))
    if extras:
        line += f" _({'; '.join(extras)})_"
    return line


def _first_sentence(text: str) -> str:
    flat = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(\s|$)", flat)
    sentence = match.group(1) if match else flat
    if len(sentence) > _MAX_HIGHLIGHT:
        sentence = sentence[: _MAX_HIGHLIGHT - 1].rsplit(" ", 1)[0] + "\u2026"
    return sentence


def _md(text: str) -> str:
    """One line of literal text: no line breaks, Markdown characters escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _normalise(entries: Iterable[Any]) -> list[_Entry]:
    items = [_entry(raw) for raw in entries]
    if not items:
        raise ValueError("a report needs at least one journal entry")
    # Numeric ids sort as numbers, so entry 10 comes after entry 9.
    return sorted(
        items, key=lambda e: (e.day, (0, int(e.id), "") if e.id.isdigit() else (1, 0, e.id))
    )


def _entry(raw: Any) -> _Entry:
    def field(*names: str) -> Any:
        for name in names:
            value = raw.get(name) if isinstance(raw, Mapping) else getattr(raw, name, None)
            if value is not None:
                return value
        return None

    ident = field("id")
    day = _day(field("date", "entry_date", "created_at"), ident)
    tags = field("tags") or ()
    if isinstance(tags, str):
        tags = [t for t in re.split(r"[,\s]+", tags) if t]
    return _Entry(
        id=str(ident if ident is not None else ""),
        day=day,
        title=str(field("title") or "").strip(),
        text=str(field("text", "content", "body") or ""),
        mood=str(field("mood") or "").strip(),
        tags=tuple(str(t).strip() for t in tags if str(t).strip()),
    )


def _day(value: Any, ident: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise ValueError(f"journal entry {ident!r} has no usable date: {value!r}")
