"""Execution: a supervisor process with child processes that run the tasks."""

from .config import WorkerConfig
from .supervisor import Supervisor

__all__ = ["Supervisor", "WorkerConfig"]
