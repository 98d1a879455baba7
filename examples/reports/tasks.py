"""The report job: weaves the chosen journal entries into a weekly report."""

from __future__ import annotations

from typing import Any

from examples.ai import OfflineProvider, offline_report, provider_from_env, report_period
from examples.jobs import app
from examples.settings import app_database
from underway import Job

from .entries import EntryRepository

SYSTEM_PROMPT = (
    "You write a short weekly progress report in Markdown from a person's journal entries: "
    "a '# Weekly Progress Report' title, the themes of the week, and highlights per day."
)


# The source system's limits: three minutes, one try (a report is cheap to ask for again).
@app.task("reports.generate", timeout=180, tries=1)
def generate(job: Job, user_id: str, entry_ids: list[int]) -> dict[str, Any]:
    entries = EntryRepository(app_database()).owned(user_id, entry_ids)
    if not entries:
        raise ValueError("no journal entries were chosen")
    job.progress(total=2, processed=0, current="reading entries")
    rows = [entry.as_dict() for entry in entries]
    with provider_from_env() as provider:
        job.advance(current=f"writing with {provider.label}")
        if provider.offline:
            if isinstance(provider, OfflineProvider):
                provider.simulate_call()
            report = offline_report(rows)
        else:
            prompt = "\n\n".join(f"## {e.date}: {e.title}\n{e.text}" for e in entries)
            completion = provider.complete(SYSTEM_PROMPT, prompt, max_tokens=4096)
            job.add_usage(
                tokens=completion.input_tokens + completion.output_tokens, ai_cost=completion.cost
            )
            report = completion.text
    job.advance(current="done")
    return {
        "report": report,
        "period": report_period(rows),
        "provider": provider.name,
        "offline": provider.offline,
    }
