"""The demo's one Underway object: `underway worker --app examples.jobs:app` runs both apps."""

from __future__ import annotations

from underway import Underway

app = Underway()

# Importing the task modules registers their tasks on `app`; they import `app` from here.
from examples.codefix import tasks as codefix_tasks  # noqa: E402
from examples.reports import tasks as reports_tasks  # noqa: E402

__all__ = ["app", "codefix_tasks", "reports_tasks"]
