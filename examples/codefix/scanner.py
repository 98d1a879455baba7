"""Finds real lint in a folder of Python source with ruff's JSON output."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from examples.ai.ruff_fix import ruff_command

# Rules a reviewer would want fixed; some have automatic fixes, some need a model.
RULES = "F,E,W,UP,B,SIM"
SAMPLE_PROJECT = Path(__file__).parent / "sample_project"


def scan(folder: Path, only: Path | None = None) -> list[dict[str, object]]:
    """Issues in folder (or just the file `only`), with paths relative to folder."""
    target = only or folder
    completed = subprocess.run(
        [*ruff_command(), "check", "--isolated", "--no-cache", "--select", RULES,
         "--output-format", "json", "--exit-zero", str(target)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return [
        {
            "file": str(Path(item["filename"]).resolve().relative_to(folder.resolve())),
            "line": item["location"]["row"],
            "col": item["location"]["column"],
            "rule": item["code"],
            "message": item["message"],
        }
        for item in json.loads(completed.stdout)
    ]


def prepare_workspace(data_dir: Path) -> Path:
    """A working copy of the sample project: fixes are applied there, never to the original."""
    workspace = data_dir / "codefix-workspace"
    if not workspace.exists():
        shutil.copytree(SAMPLE_PROJECT, workspace)
    return workspace
