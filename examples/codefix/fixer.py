"""Fixes one issue in the working copy: with an AI model, or offline with the linter's own fix."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from examples.ai import Provider, ProviderError, offline_fix

from .issues import Issue
from .scanner import scan

SYSTEM_PROMPT = (
    "You fix one lint issue in a Python file. Answer with the whole corrected file in one "
    "```python block and nothing else. Change nothing but what the issue needs."
)
FENCED = re.compile(r"```(?:python)?\n(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class FixResult:
    success: bool
    message: str
    tokens: int = 0
    cost: float = 0.0


def still_there(workspace: Path, issue: Issue) -> bool:
    found = scan(workspace, only=workspace / issue.file)
    return any(f["rule"] == issue.rule and f["line"] == issue.line for f in found)


def fix_issue(workspace: Path, issue: Issue, provider: Provider) -> FixResult:
    path = workspace / issue.file
    if not still_there(workspace, issue):
        return FixResult(True, f"{issue.rule} already fixed")
    if provider.offline:
        return _fix_offline(workspace, issue)
    return _fix_with_model(workspace, issue, provider, path)


def _fix_offline(workspace: Path, issue: Issue) -> FixResult:
    outcome = offline_fix(workspace / issue.file, issue.rule, unsafe=True)
    if not still_there(workspace, issue):
        return FixResult(True, f"{issue.rule} fixed by the linter (offline)")
    return FixResult(False, f"{issue.rule}: {outcome.message}; needs an AI model (offline mode)")


def _fix_with_model(workspace: Path, issue: Issue, provider: Provider, path: Path) -> FixResult:
    source = path.read_text()
    prompt = (
        f"Issue {issue.rule} at line {issue.line}, column {issue.col}: {issue.message}\n\n"
        f"File {issue.file}:\n```python\n{source}```"
    )
    try:
        completion = provider.complete(SYSTEM_PROMPT, prompt, max_tokens=16384)
    except ProviderError as exc:
        return FixResult(False, f"{issue.rule}: {exc}")
    tokens, cost = completion.input_tokens + completion.output_tokens, completion.cost
    match = FENCED.search(completion.text)
    if completion.truncated or match is None:
        problem = "was cut short" if completion.truncated else "held no code"
        return FixResult(False, f"{issue.rule}: the model's answer {problem}", tokens, cost)
    path.write_text(match.group(1))
    if still_there(workspace, issue):
        path.write_text(source)
        return FixResult(False, f"{issue.rule}: the model's fix did not remove it", tokens, cost)
    return FixResult(True, f"{issue.rule} fixed by {completion.model}", tokens, cost)
