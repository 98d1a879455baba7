"""Fix All: real lint from ruff, real fixes to files, the pages and the job."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from demo_helpers import csrf_of

from examples.codefix.issues import IssueRepository
from examples.codefix.scanner import SAMPLE_PROJECT, scan
from examples.codefix.tasks import fix_all
from examples.settings import app_database, data_dir
from underway import Job, Underway


def test_scanner_finds_real_issues_in_the_sample_project() -> None:
    found = scan(SAMPLE_PROJECT)
    assert len(found) >= 30
    assert {f["file"] for f in found} >= {"shop/models.py", "shop/views.py", "shop/pricing.py"}
    assert {"F401", "E711", "F541"} <= {f["rule"] for f in found}
    first = found[0]
    assert set(first) == {"file", "line", "col", "rule", "message"}


def test_seed_stores_open_issues_once(demo: Underway) -> None:
    repository = IssueRepository(app_database())
    issues = repository.all()
    assert len(issues) >= 30 and all(i.status == "open" for i in issues)
    from examples.seed import seed

    assert seed()["issues"] == 0
    assert len(repository.all()) == len(issues)


def test_fix_all_applies_fixes_and_reports_each_issue(demo: Underway) -> None:
    demo.eager = True
    repository = IssueRepository(app_database())
    chosen = [i for i in repository.open_issues() if i.rule in ("F401", "B006")][:6]
    workspace = data_dir() / "codefix-workspace"
    before = {i.file: (workspace / i.file).read_text() for i in chosen}
    document = demo.get(fix_all.dispatch(issue_ids=[i.id for i in chosen]))
    assert document is not None and document["status"] == "completed", document
    assert document["progress"]["processed"] == document["progress"]["total"] == len(chosen)
    assert document["progress"]["current"] in before
    results = document["results"]
    assert [r["issue_id"] for r in results] == [i.id for i in chosen]
    assert all({"issue_id", "success", "message", "ai_cost"} <= set(r) for r in results)
    by_rule = {i.id: i.rule for i in chosen}
    assert all(r["success"] for r in results if by_rule[r["issue_id"]] == "F401")
    statuses = {i.id: i.status for i in repository.get_many([i.id for i in chosen])}
    assert all(statuses[r["issue_id"]] == ("fixed" if r["success"] else "failed") for r in results)
    assert any((workspace / f).read_text() != text for f, text in before.items())
    assert document["result"]["offline"] is True
    assert "import os" not in (workspace / "shop/models.py").read_text()
    assert (SAMPLE_PROJECT / "shop/models.py").read_text().startswith("import os")


def test_fix_all_resumes_from_its_checkpoint(demo: Underway) -> None:
    repository = IssueRepository(app_database())
    chosen = [i.id for i in repository.open_issues()[:5]]
    job = Job(checkpoint=3)
    fix_all(job, chosen)
    assert [r["issue_id"] for r in job.results] == chosen[3:]
    untouched = repository.get_many(chosen[:3])
    assert all(issue.status == "open" for issue in untouched)
    assert job.checkpoint == 5


def test_page_lists_issues_and_fix_all_starts_one_job(demo: Underway, client: httpx.Client) -> None:
    page = client.get("/fix-all")
    assert page.status_code == 200
    assert page.text.count('name="issue_ids"') >= 30
    assert "Offline mode" in page.text and "at most 50" in page.text
    ids = [int(i) for i in re.findall(r'name="issue_ids" value="(\d+)"', page.text)[:3]]
    form = {"csrf": csrf_of(page.text), "issue_ids": [str(i) for i in ids]}
    first = client.post("/fix-all", data=form, follow_redirects=False)
    second = client.post("/fix-all", data=form, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]  # the double click
    job_id = first.headers["location"].rsplit("/", 1)[1]
    document = demo.get(job_id)
    assert document is not None and document["args"] == {"issue_ids": ids}
    progress_page = client.get(f"/fix-all/{job_id}")
    assert progress_page.status_code == 200 and job_id in progress_page.text
    assert "no worker is running" in progress_page.text
    assert client.get(f"/fix-all/{job_id}/progress").json()["job_id"] == job_id


def test_more_than_fifty_issues_are_refused_with_a_reason(client: httpx.Client) -> None:
    page = client.get("/fix-all").text
    ids = re.findall(r'name="issue_ids" value="(\d+)"', page)
    too_many = (ids * 2)[:51]
    form = {
        "csrf": csrf_of(page),
        "issue_ids": [str(int(i) + 1000 * n) for n, i in enumerate(too_many)],
    }
    answer = client.post("/fix-all", data=form)
    assert answer.status_code == 422
    assert "one Fix All job takes at most 50" in answer.text


def test_forms_need_the_csrf_token(client: httpx.Client) -> None:
    client.get("/fix-all")
    answer = client.post("/fix-all", data={"csrf": "forged", "issue_ids": ["1"]})
    assert answer.status_code == 403


def test_unknown_job_is_404(client: httpx.Client) -> None:
    assert client.get("/fix-all/01nosuchjob").status_code == 404


def test_a_real_worker_runs_fix_all(demo: Underway, tmp_path: Path) -> None:
    repository = IssueRepository(app_database())
    chosen = [i.id for i in repository.open_issues() if i.rule == "F541"]
    job_id = fix_all.dispatch(issue_ids=chosen)
    repo_root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, "-m", "underway", "worker", "--app", "examples.jobs:app", "--burst",
         "--processes", "1"],
        cwd=repo_root, env={**os.environ}, check=True, timeout=90, capture_output=True,
    )  # fmt: skip
    document = demo.get(job_id)
    assert document is not None and document["status"] == "completed", document
    assert all(r["success"] for r in document["results"])
    assert {i.status for i in repository.get_many(chosen)} == {"fixed"}
