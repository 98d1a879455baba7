"""underway: durable background jobs with progress that people can watch."""

from .app import Underway
from .errors import (
    ConfigurationError,
    InvalidTransition,
    JobNotFound,
    StoreError,
    StoreUnavailable,
    UnderwayError,
    UnknownTask,
)
from .job import Job, JobLost
from .model import Status
from .tasks import Task

__all__ = [
    "ConfigurationError",
    "InvalidTransition",
    "Job",
    "JobLost",
    "JobNotFound",
    "Status",
    "StoreError",
    "StoreUnavailable",
    "Task",
    "Underway",
    "UnderwayError",
    "UnknownTask",
]
