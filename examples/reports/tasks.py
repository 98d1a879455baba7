"""The report job: weaves the chosen journal entries into a weekly report."""

from __future__ import annotations

from typing import Any

from examples.ai import (
    OfflineProvider,
    Provider,
    TextStream,
    offline_report,
    provider_from_env,
    report_period,
)
from examples.jobs import app
from examples.settings import app_database
from underway import Job

from .entries import Entry, EntryRepository

SYSTEM_PROMPT = (
    "You write a short weekly progress report in Markdown from a person's journal entries: "
    "a '# Weekly Progress Report' title, the themes of the week, and highlights per day."
)


# The source system's limits: three minutes, one try (a report is cheap to ask for again).
@app.task("reports.generate", timeout=180, tries=1)
def generate(job: Job, user_id: str, entry_ids: list[int]) -> dict[str, Any]:
    """The report as the model writes it goes to the job's output piece by piece (the page
    shows it growing); the whole report is the result, as the source system returned it."""
    entries = EntryRepository(app_database()).owned(user_id, entry_ids)
    if not entries:
        raise ValueError("no journal entries were chosen")
    job.progress(total=2, processed=0, current="reading entries")
    rows = [entry.as_dict() for entry in entries]
    with provider_from_env() as provider:
        job.advance(current=f"writing with {provider.label}")
        with writing(provider, entries, rows) as stream:
            for piece in stream:
                job.stream(piece)
        answer = stream.completion
    if not provider.offline:
        job.add_usage(tokens=answer.input_tokens + answer.output_tokens, ai_cost=answer.cost)
    job.advance(current="done")
    return {
        "report": answer.text,
        "period": report_period(rows),
        "provider": provider.name,
        "offline": provider.offline,
    }


def writing(provider: Provider, entries: list[Entry], rows: list[dict[str, Any]]) -> TextStream:
    """The report as it is written: by the model, or offline by rules (at the simulated pace
    of a model call)."""
    if isinstance(provider, OfflineProvider):
        return provider.simulate_stream(offline_report(rows))
    prompt = "\n\n".join(f"## {e.date}: {e.title}\n{e.text}" for e in entries)
    return provider.stream_text(SYSTEM_PROMPT, prompt, max_tokens=4096)
