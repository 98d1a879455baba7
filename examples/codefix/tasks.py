"""The Fix All job: fixes issue after issue, reporting each, resumable after a crash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from examples.ai import Provider, provider_from_env
from examples.jobs import app
from examples.settings import app_database, data_dir
from underway import Job

from .fixer import fix_issue
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
    for index in range(done, len(issues)):
        if job.cancelled:
            break
        issue = issues[index]
        job.progress(current=issue.file)
        result = fix_issue(workspace, issue, provider)
        repository.set_status(issue.id, "fixed" if result.success else "failed")
        job.add_result(
            {
                "issue_id": issue.id,
                "file": issue.file,
                "line": issue.line,
                "success": result.success,
                "message": result.message,
                "ai_cost": result.cost,
            }
        )
        if result.tokens or result.cost:
            job.add_usage(tokens=result.tokens, ai_cost=result.cost)
        job.advance()
        job.save_checkpoint(index + 1)
