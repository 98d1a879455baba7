"""A small job with visible progress: "fixes" a list of files, one result per file."""

from __future__ import annotations

import asyncio
import random

from underway import Job, Underway

app = Underway()


@app.task("quickstart.fix_files", tries=3, backoff=2, timeout=300)
async def fix_files(job: Job, files: list[str]) -> dict[str, int]:
    done = job.checkpoint or 0  # resume where an interrupted attempt stopped
    job.progress(total=len(files), processed=done)
    fixed = 0
    for index in range(done, len(files)):
        name = files[index]
        job.progress(current=name)
        await asyncio.sleep(0.15)  # the slow part: an AI call, a build, a request
        success = random.random() > 0.15
        fixed += success
        job.add_result(
            {
                "item": index + 1,
                "file": name,
                "success": success,
                "message": "fixed" if success else "could not parse",
            }
        )
        job.add_usage(tokens=random.randint(300, 900), ai_cost=0.002)
        job.advance()
        job.save_checkpoint(index + 1)
    return {"fixed": fixed, "failed": len(files) - fixed}
