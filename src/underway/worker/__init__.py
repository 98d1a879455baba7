"""Execution: a supervisor process with child processes that run the tasks.

- supervisor.py   the claim/dispatch loop, and what becomes of the jobs it runs (the only
                  database client of the worker)
- books.py        the books of those jobs, kept by attempt (job id and attempt number)
- pacing.py       when to claim: wake-ups, polling, idle back-off
- maintenance.py  the periodic duties for everybody: heartbeat, lease rescue (and the stall rule
                  that holds it back), --max-time
- outage.py       riding out a database outage: backoff, and nothing dropped meanwhile
- pool.py         the child processes: start, replace, retire, kill
- process.py      a child's entry point: its event loop, slots and task threads
- writes.py       progress, checkpoints and outcomes buffered and written in batches (outcomes
                  in the background, with the next claim)
- outcome.py      how an attempt that ended in a child becomes an Outcome and a log line
- protocol.py     the JSON messages over the pipes between supervisor and children

The worker imports the core (app, tasks, attempt) and the store; nothing below imports it.
"""

from .config import WorkerConfig
from .supervisor import Supervisor

__all__ = ["Supervisor", "WorkerConfig"]
