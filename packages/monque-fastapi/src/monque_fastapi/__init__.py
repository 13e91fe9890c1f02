"""monque_fastapi: run monque job handlers and producers inside FastAPI apps.

```python
from fastapi import FastAPI
from monque import Job
from monque_fastapi import JobRouter, MonqueDep, MonqueSettings, monque_lifespan

email = JobRouter(prefix="email")


@email.job("send")
async def send(job: Job) -> None: ...


app = FastAPI(lifespan=monque_lifespan(MonqueSettings(), email))


@app.post("/signup")
async def signup(monque: MonqueDep) -> None:
    await monque.enqueue("email.send", {"to": "ada@example.com"})
```
"""

from __future__ import annotations

from ._dependency import MonqueDep, get_monque
from ._health import MonqueHealth, health_router
from ._lifespan import AppLifespan, DatabaseSource, monque_lifespan
from ._management import (
    JobListModel,
    JobModel,
    QueueStatsModel,
    management_router,
)
from ._router import CronSchedule, JobDefinition, JobRouter
from ._settings import MonqueSettings

__all__ = [
    "AppLifespan",
    "CronSchedule",
    "DatabaseSource",
    "JobDefinition",
    "JobListModel",
    "JobModel",
    "JobRouter",
    "MonqueDep",
    "MonqueHealth",
    "MonqueSettings",
    "QueueStatsModel",
    "get_monque",
    "health_router",
    "management_router",
    "monque_lifespan",
]

__version__ = "0.1.0"
