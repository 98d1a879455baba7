"""Fixes one issue in the working copy: with an AI model, or offline with the linter's own fix.

Whether it worked is decided by a re-scan alone: the issue is fixed when ruff no longer finds it
(matched by content, see matching.py), and failed while ruff still does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from examples.ai import OfflineProvider, Provider, ProviderError, offline_fix

from .issues import Issue
from .matching import survey
from .scanner import Finding

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
    line: int | None = None  # where the issue was (fixed) or is (failed); None: gone before
    located: Mapping[int, Finding] = field(default_factory=dict)  # the file's issues afterwards
    gone: tuple[int, ...] = ()  # the file's other issues that went with this fix


@dataclass(frozen=True)
class _Attempt:
    by: str  # who fixed it, should the issue be gone
    problem: str  # why not, should it still be there
    tokens: int = 0
    cost: float = 0.0
    wrote: bool = False  # a model's answer was written: undone when it did not help


def fix_issue(
    workspace: Path, issue: Issue, provider: Provider, known: Sequence[Issue] = ()
) -> FixResult:
    """Fix one issue. ``known`` are the file's other issues still thought to be there: they
    keep their own findings while this one is looked for, and those this fix removes are named."""
    everyone = [issue, *(other for other in known if other.id != issue.id)]
    before = survey(workspace, issue.file, everyone)
    if issue.id not in before:
        return FixResult(True, f"{issue.rule} was already gone", located=before)
    path = workspace / issue.file
    original = path.read_text()
    if provider.offline:
        attempt = _offline_attempt(path, issue, provider)
    else:
        attempt = _model_attempt(path, issue, before[issue.id], provider)
    after = survey(workspace, issue.file, everyone)
    if issue.id in after:
        if attempt.wrote:
            path.write_text(original)
            after = before
        message = f"{issue.rule}: {attempt.problem}"
        line = after[issue.id].line
        return FixResult(False, message, attempt.tokens, attempt.cost, line, after)
    gone = tuple(other.id for other in everyone[1:] if other.id in before and other.id not in after)
    message = f"{issue.rule} fixed by {attempt.by}"
    if gone:
        message += f"; {len(gone)} more issue{'s' * (len(gone) > 1)} of this file went with it"
    line = before[issue.id].line
    return FixResult(True, message, attempt.tokens, attempt.cost, line, after, gone)


def _offline_attempt(path: Path, issue: Issue, provider: Provider) -> _Attempt:
    if isinstance(provider, OfflineProvider):
        provider.simulate_call()
    outcome = offline_fix(path, issue.rule, unsafe=True)
    needs = "this one needs" if outcome.changed else "it needs"
    problem = f"{outcome.message.rstrip('.')}; {needs} an AI model (offline mode)"
    return _Attempt("the linter (offline)", problem)


def _model_attempt(path: Path, issue: Issue, where: Finding, provider: Provider) -> _Attempt:
    source = path.read_text()
    prompt = (
        f"Issue {issue.rule} at line {where.line}, column {where.col}: {where.message}\n\n"
        f"File {issue.file}:\n```python\n{source}```"
    )
    try:
        completion = provider.complete(SYSTEM_PROMPT, prompt, max_tokens=16384)
    except ProviderError as exc:
        return _Attempt("", str(exc))
    tokens, cost = completion.input_tokens + completion.output_tokens, completion.cost
    match = FENCED.search(completion.text)
    if completion.truncated or match is None:
        problem = "was cut short" if completion.truncated else "held no code"
        return _Attempt("", f"the model's answer {problem}", tokens, cost)
    path.write_text(match.group(1))
    problem = "the model's fix did not remove it"
    return _Attempt(completion.model, problem, tokens, cost, wrote=True)
