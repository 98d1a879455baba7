"""Offline code fixes: the linter's own automatic fix for one rule in one file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import ProviderError

_RULE = re.compile(r"[A-Z]+[0-9]+")
_TIMEOUT = 60.0


@dataclass(frozen=True)
class FixOutcome:
    """What ``offline_fix`` did. ``changed`` is True when the file was rewritten."""

    path: str
    rule: str
    changed: bool
    fixed: int
    remaining: int
    message: str


def ruff_command() -> list[str]:
    """The ruff binary installed beside this Python, else ``python -m ruff``."""
    folder = Path(sys.executable).parent
    for name in ("ruff", "ruff.exe"):
        if (folder / name).is_file():
            return [str(folder / name)]
    return [sys.executable, "-m", "ruff"]


def offline_fix(path: str | Path, rule_code: str, *, unsafe: bool = False) -> FixOutcome:
    """Apply ruff's fix for ``rule_code`` (e.g. ``F401``) to the file at ``path``.

    ruff fixes every occurrence of the rule in the file, not only one line. Only ruff's safe
    fixes are applied unless ``unsafe``. Raises FileNotFoundError, ValueError for a malformed rule
    code, and ProviderError when ruff itself fails.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no such file: {file}")
    rule = rule_code.strip().upper()
    if not _RULE.fullmatch(rule):
        raise ValueError(f"not a ruff rule code: {rule_code!r}")

    before_text = file.read_bytes()
    before = _run(file, rule, fix=False, unsafe=unsafe)

    def outcome(changed: bool, fixed: int, remaining: int, message: str) -> FixOutcome:
        return FixOutcome(str(file), rule, changed, fixed, remaining, message)

    if not before:
        return outcome(False, 0, 0, f"No {rule} issue in {file.name}: nothing to fix.")
    if any(d.get("code") == "invalid-syntax" for d in before):
        return outcome(
            False, 0, len(before), f"{file.name} has a syntax error: ruff cannot fix {rule} in it."
        )
    after = _run(file, rule, fix=True, unsafe=unsafe)
    changed = file.read_bytes() != before_text
    fixed = max(0, len(before) - len(after))
    if not changed:
        if any((d.get("fix") or {}).get("applicability") == "unsafe" for d in after):
            reason = f"ruff's fix for {rule} is marked unsafe and was not applied"
        else:
            reason = f"ruff has no automatic fix for {rule}"
        return outcome(False, 0, len(after), f"{reason} ({len(after)} issue(s) left as they were).")
    if after:
        message = f"Fixed {fixed} of {len(before)} {rule} issue(s) with ruff; {len(after)} remain."
    else:
        message = f"Fixed {fixed} {rule} issue(s) with ruff's own fix."
    return outcome(True, fixed, len(after), message)


def _run(file: Path, rule: str, *, fix: bool, unsafe: bool) -> list[dict[str, Any]]:
    """Run ruff on one file for one rule; the diagnostics left afterwards."""
    args = [
        *ruff_command(),
        "check",
        "--isolated",  # the project's own ruff settings must not change what a rule fixes
        "--select",
        rule,
        "--quiet",
        "--no-cache",
        "--exit-zero",
        "--output-format",
        "json",
    ]
    if fix:
        args.append("--fix")
        if unsafe:
            args.append("--unsafe-fixes")
    # "--" so a file name starting with "-" is never read as an option.
    args += ["--", str(file.resolve())]
    try:
        done = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            cwd=file.resolve().parent,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        problem = f"could not run ruff: {exc}"
    else:
        problem = ""
        if done.returncode == 0:
            try:
                found = json.loads(done.stdout or "[]")
            except ValueError:
                problem = f"ruff printed something that is not JSON: {done.stdout[:300]!r}"
            else:
                return [d for d in found if isinstance(d, dict)]
        else:
            detail = " ".join((done.stderr or done.stdout).split())[:500]
            problem = f"ruff failed (exit {done.returncode}): {detail}"
    raise ProviderError(problem, provider="offline")
