"""Finding issues again after fixes changed their file: by what they flag, not by line number.

A fix moves the lines below it and may rewrite lines around it, so a stored line number says
little about where an issue is now. An issue is matched to a finding of a re-scan by its rule
and its content: the flagged code, ruff's message, the flagged line and the lines around it. Each
finding goes to at most one issue, best matches first, so two issues that look alike are told
apart by their context. An issue that no finding matches is gone.

Matching is generous on purpose: a finding of the same rule whose code is merely similar (its
line was rewritten by another fix) still counts as the issue. A fix is reported only when the
issue is really gone; a doubtful case is reported as still there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher
from pathlib import Path

from .issues import Issue, IssueRepository
from .scanner import Finding, scan

SIMILAR = 0.6  # code at least this similar (difflib ratio) can be the same issue, rewritten

Score = tuple[int, float, int]


def assign(issues: Iterable[Issue], found: Sequence[Finding]) -> dict[int, Finding]:
    """Issue id -> the finding that is that issue now; issues without one are gone."""
    pairs = [
        (score, n, issue.id, finding)
        for issue in issues
        for n, finding in enumerate(found)
        if (score := _score(issue, finding)) is not None
    ]
    pairs.sort(key=lambda pair: (pair[0], -pair[1]), reverse=True)
    located: dict[int, Finding] = {}
    taken: set[int] = set()
    for _, n, issue_id, finding in pairs:
        if issue_id not in located and n not in taken:
            located[issue_id] = finding
            taken.add(n)
    return located


def _score(issue: Issue, finding: Finding) -> Score | None:
    """How well a finding fits an issue, best first; None when it cannot be that issue."""
    if (issue.file, issue.rule) != (finding.file, finding.rule):
        return None
    same_code = issue.code == finding.code
    same_message = issue.message == finding.message
    similarity = SequenceMatcher(None, issue.code, finding.code).ratio()
    if not (same_code or same_message or similarity >= SIMILAR):
        return None
    agreement = (
        4 * same_code
        + 2 * same_message
        + (issue.source == finding.source)
        + (issue.above == finding.above)
        + (issue.below == finding.below)
    )
    # Only twins (same content, same context) are told apart by where they were last seen.
    return agreement, similarity, -abs(issue.line - finding.line)


def survey(workspace: Path, file: str, issues: Sequence[Issue]) -> dict[int, Finding]:
    """Re-scan one file of the workspace and locate these issues of it."""
    return assign(issues, scan(workspace, only=workspace / file))


def reconcile(workspace: Path, repository: IssueRepository) -> None:
    """Bring every issue's status and place in line with a fresh scan of the workspace: gone
    issues are fixed, issues found again are not (a fixed one found again is open)."""
    issues = repository.all()
    located = assign(issues, scan(workspace))
    repository.record_survey(issues, located)
    for issue in issues:
        if issue.id in located and issue.status == "fixed":
            repository.set_status(issue.id, "open")
