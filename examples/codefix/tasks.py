"""The Fix All job: fixes issue after issue, reporting each, resumable after a crash."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from examples.ai import Provider, provider_from_env
from examples.jobs import app
from examples.settings import app_database, data_dir
from underway import Job

from .fixer import FixResult, fix_issue
from .issues import Issue, IssueRepository
from .scanner import prepare_workspace

MAX_ISSUES_PER_JOB = 50


@app.task("codefix.fix_all", timeout=600, tries=3, backoff=2.0)
def fix_all(job: Job, issue_ids: list[int]) -> dict[str, Any]:
    if not 1 <= len(issue_ids) <= MAX_ISSUES_PER_JOB:
        raise ValueError(
            f"a Fix All job takes 1 to {MAX_ISSUES_PER_JOB} issues, got {len(issue_ids)}"
        )
    repository = IssueRepository(app_database())
    issues = repository.get_many(issue_ids)
    workspace = prepare_workspace(data_dir())
    with provider_from_env() as provider:
        fix_each(job, issues, repository, workspace, provider)
    statuses = [issue.status for issue in repository.get_many(issue_ids)]
    return {
        "fixed": statuses.count("fixed"),
        "failed": statuses.count("failed"),
        "provider": provider.label,
        "offline": provider.offline,
    }


def fix_each(
    job: Job,
    issues: list[Issue],
    repository: IssueRepository,
    workspace: Path,
    provider: Provider,
) -> None:
    done = job.checkpoint or 0  # issues before this one were fixed by an earlier attempt
    job.progress(total=len(issues), processed=done)
    went_with: dict[int, str] = {}  # issue id -> the fix in this attempt that removed it
    for index in range(done, len(issues)):
        if job.cancelled:
            break
        issue = issues[index]
        job.progress(current=issue.file)
        in_file = {other.id: other for other in repository.in_file(issue.file)}
        issue = in_file.get(issue.id, issue)  # where it is now
        known = [other for other in in_file.values() if other.status != "fixed"]
        result = fix_issue(workspace, issue, provider, known)
        if result.line is None:
            result = replace(result, message=_gone_before(issue, went_with, resumed=done > 0))
        went_with.update(dict.fromkeys(result.gone, f"{issue.rule} at line {result.line}"))
        repository.record_survey([issue, *known], result.located)
        repository.set_status(issue.id, "fixed" if result.success else "failed")
        _report(job, issue, result)
        job.advance()
        job.save_checkpoint(index + 1)


def _gone_before(issue: Issue, went_with: dict[int, str], *, resumed: bool) -> str:
    """Why an issue was no longer there when its turn came."""
    if issue.id in went_with:
        return f"{issue.rule} fixed along with {went_with[issue.id]}"
    return f"{issue.rule} already fixed before this {'attempt' if resumed else 'job'} started"


def _report(job: Job, issue: Issue, result: FixResult) -> None:
    line = result.line or issue.line
    job.add_result(
        {
            "item": f"{issue.file}:{line}",  # what a progress widget labels the result with
            "issue_id": issue.id,
            "file": issue.file,
            "line": line,
            "rule": issue.rule,
            "success": result.success,
            "message": result.message,
            "ai_cost": result.cost,
        }
    )
    if result.tokens or result.cost:
        job.add_usage(tokens=result.tokens, ai_cost=result.cost)
