"""Execution: a supervisor process with child processes that run the tasks.

- supervisor.py   the claim/dispatch loop and the books of the jobs it runs (the only database
                  client of the worker)
- maintenance.py  the periodic duties for everybody: heartbeat, lease rescue, --max-time
- pool.py         the child processes: start, replace, retire, kill
- process.py      a child's entry point: its event loop, slots and task threads
- writes.py       progress, checkpoints and outcomes buffered and written in batches
- outcome.py      how an attempt that ended in a child becomes an Outcome and a log line
- protocol.py     the JSON messages over the pipes between supervisor and children

The worker imports the core (app, tasks, attempt) and the store; nothing below imports it.
"""

from .config import WorkerConfig
from .supervisor import Supervisor

__all__ = ["Supervisor", "WorkerConfig"]
