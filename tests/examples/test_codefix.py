"""Fix All: real lint from ruff, real fixes to files, the pages and the job."""

from __future__ import annotations

import difflib
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import pytest
from demo_helpers import csrf_of

from examples.ai import offline_fix
from examples.ai.ruff_fix import ruff_command
from examples.codefix.issues import Issue, IssueRepository
from examples.codefix.matching import assign
from examples.codefix.scanner import RULES, SAMPLE_PROJECT, prepare_workspace, scan
from examples.codefix.tasks import fix_all
from examples.seed import describe, seed
from examples.settings import app_database, data_dir
from underway import Job, Underway


def test_scanner_finds_real_issues_in_the_sample_project() -> None:
    found = scan(SAMPLE_PROJECT)
    assert len(found) >= 30
    assert {f.file for f in found} >= {"shop/models.py", "shop/views.py", "shop/pricing.py"}
    assert {"F401", "E711", "F541"} <= {f.rule for f in found}
    # Each finding keeps what it flags, to be found again once fixes have moved it.
    [none] = [f for f in found if f.rule == "E711" and f.file == "shop/models.py"]
    assert (none.line, none.code, none.source) == (14, "None", "if self.price == None:")
    assert (none.above, none.below) == ("def is_free(self):", "return False")
    [needless] = [f for f in found if f.rule == "SIM103" and f.file == "shop/views.py"]
    whole_statement = "if len(cart.items) == 0: return True else: return False"  # 4 lines
    assert needless.code == whole_statement
    assert needless.below == ""


def test_seed_stores_open_issues_once(demo: Underway) -> None:
    repository = IssueRepository(app_database())
    issues = repository.all()
    assert len(issues) >= 30 and all(i.status == "open" for i in issues)
    assert seed().issues == 0
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
    assert "no worker is running" in progress_page.text  # said without JavaScript too


def test_the_progress_page_shows_its_job_by_view_link(demo: Underway, client: httpx.Client) -> None:
    # Fix All needs no sign-in: the page's widget reads its one job with a view link.
    issues = IssueRepository(app_database()).open_issues()
    job_id, other = (fix_all.dispatch(issue_ids=[i.id]) for i in issues[:2])
    page = client.get(f"/fix-all/{job_id}").text
    widget = re.search(r'<underway-progress job="(\w+)" src="/watch" view="([^"]+)">', page)
    assert widget is not None and widget.group(1) == job_id, page
    view = widget.group(2)
    for script in ("/watch/static/underway-progress.js", "/watch/static/underway-progress.css"):
        assert script in page and client.get(script).status_code == 200
    status = client.get(f"/watch/api/jobs/{job_id}", params={"view": view})
    assert status.status_code == 200 and status.json()["job_id"] == job_id
    assert client.get(f"/watch/api/jobs/{other}", params={"view": view}).status_code == 404
    assert client.get(f"/watch/api/jobs/{job_id}").status_code == 401  # nobody signed in
    assert client.get(f"/fix-all/{job_id}/progress").status_code == 404  # the page polls no more


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


# --- the truth of what Fix All reports, checked with ruff on the workspace --------------------


@dataclass(frozen=True)
class Lint:
    """One ruff finding, identified by what it flags (never by its line number)."""

    file: str
    rule: str
    message: str
    code: str  # the flagged source text, whitespace collapsed
    line: int = field(compare=False)  # only to recognise the seeded issues
    col: int = field(compare=False)


def ruff_lint(folder: Path) -> list[Lint]:
    """ruff's findings in folder, run here on its own rather than through the app's scanner."""
    done = subprocess.run(
        [*ruff_command(), "check", "--isolated", "--no-cache", "--select", RULES,
         "--output-format", "json", "--exit-zero", str(folder)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    found = []
    for item in json.loads(done.stdout):
        path = Path(item["filename"])
        code = flagged(path.read_text().splitlines(), item["location"], item["end_location"])
        file = str(path.resolve().relative_to(folder.resolve()))
        start = item["location"]
        found.append(Lint(file, item["code"], item["message"], code, start["row"], start["column"]))
    return found


def flagged(lines: list[str], start: dict[str, int], end: dict[str, int]) -> str:
    chunk = lines[start["row"] - 1 : end["row"]] or [""]
    if len(chunk) == 1:
        chunk = [chunk[0][start["column"] - 1 : end["column"] - 1]]
    else:
        chunk = [chunk[0][start["column"] - 1 :], *chunk[1:-1], chunk[-1][: end["column"] - 1]]
    return " ".join(" ".join(chunk).split())


def same_issue(a: Lint, b: Lint) -> bool:
    """Generous on purpose: a finding that merely resembles an issue counts as that issue."""
    if (a.file, a.rule) != (b.file, b.rule):
        return False
    similar = difflib.SequenceMatcher(None, a.code, b.code).ratio() >= 0.6
    return a.code == b.code or a.message == b.message or similar


def test_fix_all_over_every_issue_reports_only_what_ruff_confirms(demo: Underway) -> None:
    demo.eager = True
    repository = IssueRepository(app_database())
    issues = repository.all()
    # Seeded from a fresh copy: each issue is one finding in the pristine sample project.
    pristine = {(f.line, f.col, f.file, f.message): f for f in ruff_lint(SAMPLE_PROJECT)}
    original = {i.id: pristine[(i.line, i.col, i.file, i.message)] for i in issues}
    assert len(original) == len(pristine) >= 30

    document = demo.get(fix_all.dispatch(issue_ids=[i.id for i in issues]))
    assert document is not None and document["status"] == "completed", document
    results = {r["issue_id"]: r for r in document["results"]}
    assert sorted(results) == sorted(original) and len(document["results"]) == len(issues)
    # The workspace was a fresh copy: nothing was fixed before this job.
    assert not [r["message"] for r in results.values() if "already" in r["message"]]

    remaining = ruff_lint(data_dir() / "codefix-workspace")
    fixed = [i for i, r in results.items() if r["success"]]
    failed = [i for i, r in results.items() if not r["success"]]
    # Every issue reported fixed is gone: nothing ruff still finds even resembles it.
    lies = [(original[i], r) for i in fixed for r in remaining if same_issue(original[i], r)]
    assert not lies, lies
    # Every original issue ruff still finds was reported failed (one failed report each).
    unclaimed = set(failed)
    for lint in remaining:
        owner = next((i for i in sorted(unclaimed) if same_issue(original[i], lint)), None)
        if owner is not None:
            unclaimed.discard(owner)
        else:  # not an issue of the sample: made by a fix (an import left unused)
            assert not any(same_issue(original[i], lint) for i in original), lint
    # ... and every issue reported failed is still there.
    assert not unclaimed, [original[i] for i in unclaimed]
    # Issues without an automatic fix failed; the linter fixed the others.
    no_fix = {"UP035", "SIM115", "E722"}
    assert {original[i].rule for i in failed} == no_fix
    assert all(original[i].rule not in no_fix for i in fixed) and len(fixed) >= 20
    statuses = {i.id: i.status for i in repository.all()}
    assert all(statuses[i] == ("fixed" if r["success"] else "failed") for i, r in results.items())
    assert document["result"] == {**document["result"], "fixed": len(fixed), "failed": len(failed)}


def test_an_issue_is_found_by_its_content_after_other_fixes_move_and_rewrite_it(
    demo: Underway,
) -> None:
    demo.eager = True
    repository = IssueRepository(app_database())
    models = {(i.rule, i.line): i for i in repository.in_file("shop/models.py")}
    # Removing the unused imports moves every line up; E712's fix rewrites SIM103's statement.
    first = [models["F401", 1].id, models["E712", 22].id]
    assert all(r["success"] for r in demo.get(fix_all.dispatch(issue_ids=first))["results"])
    workspace = data_dir() / "codefix-workspace"
    [moved] = [f for f in scan(workspace) if f.rule == "SIM103" and f.file == "shop/models.py"]
    assert moved.line != 22 and "is True" in moved.message  # what the stored issue no longer says

    needless = models["SIM103", 22]
    [result] = demo.get(fix_all.dispatch(issue_ids=[needless.id]))["results"]
    assert "already" not in result["message"] and result["line"] == moved.line
    still_found = [f for f in scan(workspace) if f.rule == "SIM103" and f.file == "shop/models.py"]
    assert result["success"] == (not still_found), result
    assert repository.get_many([needless.id])[0].status == (
        "fixed" if not still_found else "failed"
    )


def test_twins_are_told_apart_by_their_context(tmp_path: Path) -> None:
    twins = "def first(x):\n    if x == None:\n        return 1\n    return 2\n\n\n"
    twins += twins.replace("first", "second")
    (tmp_path / "twins.py").write_text(twins)
    found = scan(tmp_path)
    assert [(f.rule, f.line) for f in found] == [("E711", 2), ("E711", 8)]
    first, second = (Issue(id=n, status="open", **asdict(f)) for n, f in enumerate(found))

    # Deleting `first` puts `second`'s comparison on line 2, where `first`'s was.
    (tmp_path / "twins.py").write_text(twins.split("\n\n\n", 1)[1])
    located = assign([first, second], scan(tmp_path))
    assert list(located) == [second.id] and located[second.id].line == 2

    # Fixing `second` alone leaves `first`, wherever it is now.
    at = twins.rindex("x == None")
    (tmp_path / "twins.py").write_text(f"# moved\n\n{twins[:at]}x is None{twins[at + 9 :]}")
    located = assign([first, second], scan(tmp_path))
    assert list(located) == [first.id] and located[first.id].line == 4


def test_offline_latency_is_simulated_per_call_and_the_pages_say_so(
    demo: Underway, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = client.get("/fix-all").text
    assert "Offline mode" in page and "Simulated" not in page  # tests run at full speed
    monkeypatch.setenv("OFFLINE_LATENCY", "0.3")
    assert "Simulated 0.3 s per call" in client.get("/fix-all").text
    demo.eager = True
    first_per_file = {}  # the unused imports on line 1: one linter call each
    for issue in IssueRepository(app_database()).open_issues():
        first_per_file.setdefault(issue.file, issue.id)
    started = time.monotonic()
    job_id = fix_all.dispatch(issue_ids=list(first_per_file.values()))
    assert time.monotonic() - started >= 0.3 * len(first_per_file) >= 0.9
    document = demo.get(job_id)
    assert document is not None and document["status"] == "completed"
    assert document["result"]["provider"] == "offline (no AI model; simulated 0.3 s per call)"
    assert "Simulated 0.3 s per call" in client.get(f"/fix-all/{job_id}").text


def test_a_second_seed_reuses_the_data_and_says_so(demo: Underway) -> None:
    demo.eager = True
    repository = IssueRepository(app_database())
    total = len(repository.all())
    [bare_except] = [i.id for i in repository.open_issues() if i.rule == "E722"]
    fix_all.dispatch(issue_ids=[bare_except])  # no automatic fix: it fails
    again = seed()
    assert (again.issues, again.entries, again.total_entries) == (0, 0, 14)
    assert again.statuses == {"open": total - 1, "fixed": 0, "failed": 1}
    folder = data_dir()
    assert describe(again, folder) == (
        f"reusing {folder}/ ({total} issues: {total - 1} open, 0 fixed, 1 failed; "
        f"14 journal entries); delete {folder}/ to start over"
    )


OLD_SCHEMA = """
CREATE TABLE codefix_issues (
    id INTEGER PRIMARY KEY,
    file TEXT NOT NULL,
    line INTEGER NOT NULL,
    col INTEGER NOT NULL,
    rule TEXT NOT NULL,
    message TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'fixed', 'failed'))
)
"""


def test_demo_data_from_before_issues_kept_their_content_is_upgraded_and_rechecked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_DATA_DIR", str(tmp_path / "old-demo-data"))
    # As the demo left it: issues without their content, and every one claimed fixed, though
    # only the unused imports of models.py were.
    with sqlite3.connect(app_database()) as conn:
        conn.execute(OLD_SCHEMA)
        conn.executemany(
            "INSERT INTO codefix_issues (file, line, col, rule, message, status) "
            "VALUES (?, ?, ?, ?, ?, 'fixed')",
            [(f.file, f.line, f.col, f.rule, f.message) for f in scan(SAMPLE_PROJECT)],
        )
    conn.close()
    workspace = prepare_workspace(data_dir())
    assert offline_fix(workspace / "shop/models.py", "F401").fixed == 3

    seeded = seed()
    issues = IssueRepository(app_database()).all()
    assert seeded.issues == 0 and all(i.code and i.source for i in issues)
    gone = [(i.file, i.rule) for i in issues if i.status == "fixed"]
    assert gone == [("shop/models.py", "F401")] * 3
    assert seeded.statuses == {"open": len(issues) - 3, "fixed": 3, "failed": 0}
