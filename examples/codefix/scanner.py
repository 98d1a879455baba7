"""Finds real lint in a folder of Python source with ruff's JSON output."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from examples.ai.ruff_fix import ruff_command

# Rules a reviewer would want fixed; some have automatic fixes, some need a model.
RULES = "F,E,W,UP,B,SIM"
SAMPLE_PROJECT = Path(__file__).parent / "sample_project"


@dataclass(frozen=True)
class Finding:
    """One issue ruff reports, with the text it flags: enough to find it again after edits move
    it (see matching.py). ``line`` and ``col`` say where it is now, nothing more."""

    file: str
    line: int
    col: int
    rule: str
    message: str
    code: str  # the flagged source text, whitespace collapsed
    source: str  # the flagged line, stripped
    above: str  # the nearest non-blank line above it, stripped
    below: str  # the nearest non-blank line below the flagged text, stripped


def scan(folder: Path, only: Path | None = None) -> list[Finding]:
    """Issues in folder (or just the file `only`), with paths relative to folder."""
    target = only or folder
    completed = subprocess.run(
        [*ruff_command(), "check", "--isolated", "--no-cache", "--select", RULES,
         "--output-format", "json", "--exit-zero", str(target)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    texts: dict[Path, list[str]] = {}
    found = []
    for item in json.loads(completed.stdout):
        path = Path(item["filename"]).resolve()
        if path not in texts:
            texts[path] = path.read_text().splitlines()
        found.append(_finding(path.relative_to(folder.resolve()), texts[path], item))
    return found


def _finding(file: Path, lines: list[str], item: dict[str, Any]) -> Finding:
    start, end = item["location"], item["end_location"]
    first, last = start["row"] - 1, max(end["row"] - 1, start["row"] - 1)
    chunk = lines[first : last + 1] or [""]
    if len(chunk) == 1:
        chunk = [chunk[0][start["column"] - 1 : end["column"] - 1]]
    else:
        chunk = [chunk[0][start["column"] - 1 :], *chunk[1:-1], chunk[-1][: end["column"] - 1]]
    return Finding(
        file=str(file),
        line=start["row"],
        col=start["column"],
        rule=str(item["code"] or "invalid-syntax"),
        message=item["message"],
        code=" ".join(" ".join(chunk).split()),
        source=lines[first].strip() if first < len(lines) else "",
        above=_nearest_text(lines, first - 1, -1),
        below=_nearest_text(lines, last + 1, 1),
    )


def _nearest_text(lines: list[str], index: int, step: int) -> str:
    while 0 <= index < len(lines):
        if lines[index].strip():
            return lines[index].strip()
        index += step
    return ""


def prepare_workspace(data_dir: Path, *, fresh: bool = False) -> Path:
    """A working copy of the sample project: fixes are applied there, never to the original.
    ``fresh`` starts it over from the sample project."""
    workspace = data_dir / "codefix-workspace"
    if fresh and workspace.exists():
        shutil.rmtree(workspace)
    if not workspace.exists():
        shutil.copytree(SAMPLE_PROJECT, workspace)
    return workspace
