"""The few exceptions underway raises on purpose."""


class UnderwayError(Exception):
    """Base class: a problem underway can name in one line."""


class ConfigurationError(UnderwayError):
    """A bad database URL, app path or option."""


class StoreError(UnderwayError):
    """The database cannot be used: corrupt, foreign, too new, or unreachable."""


class StoreUnavailable(StoreError):
    """The database cannot be reached right now (down, restarting, network); worth retrying."""


class JobNotFound(UnderwayError):
    """No job has the given id."""


class BatchNotFound(JobNotFound):
    """No batch has the given id (a JobNotFound, so that whatever answers one answers both)."""


class InvalidTransition(UnderwayError):
    """The job is not in a state that allows the requested change."""


class UnknownTask(UnderwayError):
    """No task with that name is registered."""


class OutputTooLarge(UnderwayError):
    """A task streamed more live output (job.stream) than a job may hold."""
