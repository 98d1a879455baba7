"""The CLI: every command against a real database file, errors as one clear line."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from underway import Underway
from underway.cli import main, parse_duration

TASKS = textwrap.dedent(
    """
    from underway import Job, Underway

    app = Underway()

    @app.task("demo.fix")
    def fix(job: Job, items: list) -> dict:
        job.progress(total=len(items))
        for number, item in enumerate(items):
            job.advance(current=item)
            job.add_result({"item": number, "success": item != "bad", "message": f"fixed {item}"})
            job.add_usage(ai_cost=0.25, tokens=100)
        return {"fixed": len(items)}

    @app.task("demo.broken")
    def broken() -> None:
        raise ValueError("the input was bad")
    """
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> dict[str, str]:
    module = f"clitasks_{secrets.token_hex(4)}"
    (tmp_path / f"{module}.py").write_text(TASKS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("UNDERWAY_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("UNDERWAY_APP", f"{module}:app")
    monkeypatch.setenv("COLUMNS", "200")
    yield {"url": sqlite_url, "app": f"{module}:app", "module": module}
    sys.modules.pop(module, None)


def run(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert (result.exit_code == 0) == ok, result.output
    return result


def eager_run(project: dict[str, str], task: str, args: str) -> str:
    """Dispatch and run the job at once, as a worker would, through UNDERWAY_EAGER."""
    os.environ["UNDERWAY_EAGER"] = "1"
    try:
        sys.modules.pop(project["module"], None)
        return run("dispatch", task, "--args", args).output.strip()
    finally:
        del os.environ["UNDERWAY_EAGER"]
        sys.modules.pop(project["module"], None)


def test_dispatch_prints_the_id_and_status_shows_the_job(project: dict[str, str]) -> None:
    job_id = run("dispatch", "demo.fix", "--args", '{"items": ["a.py"]}', "--priority", "3").output
    job_id = job_id.strip()
    document = json.loads(run("status", job_id, "--json").output)
    assert document["job_id"] == job_id
    assert (document["status"], document["priority"]) == ("pending", 3)
    assert document["warning"] == "no worker is running"
    text = run("status", job_id).output
    assert "demo.fix" in text and "pending" in text and job_id in text


def test_status_of_a_finished_job_with_results_and_traceback(project: dict[str, str]) -> None:
    done = eager_run(project, "demo.fix", '{"items": ["a.py", "bad"]}')
    text = run("status", done).output
    assert "completed" in text and "2/2 (100.0%)" in text
    assert "✓ 0 fixed a.py" in text and "✗ 1 fixed bad" in text
    assert "ai_cost=0.5" in text
    failed = eager_run(project, "demo.broken", "{}")
    text = run("status", failed, "--traceback").output
    assert "ValueError: the input was bad" in text
    assert "Traceback (most recent call last)" in text
    # The task's own frame comes first: underway's frames that called it say nothing.
    frames = [line for line in text.splitlines() if line.lstrip().startswith("File ")]
    assert frames and f"{project['module']}.py" in frames[0], text


def test_monitor_shows_bar_results_and_cost(project: dict[str, str]) -> None:
    done = eager_run(project, "demo.fix", '{"items": ["a.py", "b.py", "bad"]}')
    text = run("monitor", done, "--watch").output
    assert "✓ 0 fixed a.py" in text and "✗ 2 fixed bad" in text
    assert "3/3" in text and "$0.7500" in text and "completed" in text


def test_jobs_lists_and_filters(project: dict[str, str]) -> None:
    pending = run("dispatch", "demo.fix", "--args", '{"items": []}').output.strip()
    failed = eager_run(project, "demo.broken", "{}")
    listing = json.loads(run("jobs", "--json").output)
    assert [d["job_id"] for d in listing["jobs"]] == [failed, pending]
    only_failed = json.loads(run("jobs", "--status", "failed", "--json").output)
    assert [d["job_id"] for d in only_failed["jobs"]] == [failed]
    table = run("jobs").output
    assert pending in table and failed in table


def test_retry_cancel_prune_and_stats(project: dict[str, str]) -> None:
    failed = [eager_run(project, "demo.broken", "{}") for _ in range(2)]
    pending = run("dispatch", "demo.fix", "--args", '{"items": []}').output.strip()
    assert "2 jobs queued again" in run("retry", "--failed").output
    assert json.loads(run("status", failed[0], "--json").output)["status"] == "pending"
    assert f"{pending} cancelled" in run("cancel", pending).output
    stats = json.loads(run("stats", "--json").output)
    assert stats["queues"]["default"] == {"pending": 2, "cancelled": 1}
    assert stats["workers"] == []
    assert "no worker is running" in run("stats").output
    assert "deleted 0 finished jobs" in run("prune", "--older-than", "7d").output
    assert "deleted 1 finished jobs" in run("prune", "--older-than", "0s").output


def test_dispatch_wait_exit_code_follows_the_outcome(project: dict[str, str]) -> None:
    os.environ["UNDERWAY_EAGER"] = "1"
    try:
        ok = CliRunner().invoke(main, ["dispatch", "demo.fix", "--args", '{"items": []}', "--wait"])
        bad = CliRunner().invoke(main, ["dispatch", "demo.broken", "--wait"])
    finally:
        del os.environ["UNDERWAY_EAGER"]
    assert ok.exit_code == 0 and "completed" in ok.output
    assert bad.exit_code == 1 and "ValueError: the input was bad" in bad.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "01nosuchjob"], "no job with id 01nosuchjob"),
        (["dispatch", "demo.fix", "--args", "{items"], "not JSON"),
        (["dispatch", "demo.fix", "--args", "[1]"], "must be a JSON object"),
        (["dispatch", "demo.nope"], "no task named 'demo.nope'"),
        (["dispatch", "demo.fix", "--args", '{"items": 1, "x": 2}', "--delay", "-1"], "delay"),
        (["retry"], "name job ids, or pass --failed"),
        (["prune", "--older-than", "soon"], "not a duration"),
        (["jobs", "--database-url", "redis://localhost"], "unknown scheme 'redis'"),
        (["dispatch", "demo.fix", "--args", "[" * 100_000 + "]" * 100_000], "--args"),
        (["dispatch", "demo.fix", "--priority", "high"], "'high' is not a valid integer"),
        (["status"], "Missing argument 'JOB_ID'"),
        (["jobs", "--limit", "0"], "--limit"),
    ],
)
def test_user_mistakes_exit_1_with_one_clear_line(
    project: dict[str, str], args: list[str], message: str
) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output


def test_app_and_database_url_go_before_the_command_too(
    project: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UNDERWAY_APP")
    other = f"sqlite:///{tmp_path / 'before.db'}"
    before = ["--app", project["app"], "--database-url", other]
    job_id = run(*before, "dispatch", "demo.fix", "--args", '{"items": []}').output.strip()
    assert Underway(other).get(job_id) is not None
    assert Underway(project["url"]).get(job_id) is None
    # The command's own flag wins over the root's.
    own = run(*before, "status", job_id, "--database-url", project["url"], ok=False)
    assert f"no job with id {job_id}" in own.output


def test_jobs_never_cuts_ids_short(
    project: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = run("dispatch", "demo.fix", "--args", '{"items": []}').output.strip()
    monkeypatch.setenv("COLUMNS", "50")
    assert job_id in run("jobs").output


def test_real_command_errors_without_traceback(project: dict[str, str]) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "underway", "cancel", "0" * 26],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines() == [f"Error: no job with id {'0' * 26}"]


def test_worker_without_app_is_a_clear_error(project: dict[str, str]) -> None:
    result = CliRunner(env={"UNDERWAY_APP": ""}).invoke(main, ["worker"])
    assert result.exit_code == 1
    assert "pass --app module:attribute or set UNDERWAY_APP" in result.output


def test_database_url_flag_overrides_the_environment(
    project: dict[str, str], tmp_path: Path
) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    job_id = run("dispatch", "demo.fix", "--args", "{}", "--database-url", other).output.strip()
    assert Underway(other).get(job_id) is not None
    assert Underway(project["url"]).get(job_id) is None


def test_migrate_creates_the_schema(project: dict[str, str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert "schema ready" in run("migrate", "--database-url", url).output
    assert (tmp_path / "fresh.db").exists()


def test_durations() -> None:
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration("90") == 90
    assert parse_duration("1.5h") == 5400


def test_a_damaged_database_file_is_one_line_naming_it(project: dict[str, str]) -> None:
    filler = Underway(project["url"])
    filler.task("demo.fix")(lambda items: None)
    job_id, *_ = filler.dispatch_many("demo.fix", [{"items": ["x"] * 20}] * 300)
    filler.store.close()  # the last connection's close copies the WAL into the file
    path = Path(project["url"].removeprefix("sqlite:///"))
    data = bytearray(path.read_bytes())
    data[4096:] = os.urandom(len(data) - 4096)
    path.write_bytes(bytes(data))
    for args in (["jobs"], ["status", job_id], ["dispatch", "demo.fix", "--args", "{}"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, result.output
        [line] = result.output.strip().splitlines()
        assert str(path) in line and "not a usable SQLite database" in line


def test_a_postgresql_server_that_is_not_there_is_one_line(project: dict[str, str]) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://postgres@127.0.0.1:{port}/test"
    completed = subprocess.run(
        [sys.executable, "-m", "underway", "jobs", "--database-url", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 1
    [line] = completed.stderr.strip().splitlines()
    assert line.startswith("Error: PostgreSQL at 127.0.0.1") and "unavailable" in line
