"""A generic streaming batch engine: run a task over an endless stream of payloads on many workers.

It knows nothing of alignment: a payload is anything the task accepts (in practice a batch of
numpy arrays). The input is consumed lazily through a bounded window of in-flight payloads
(backpressure), results come back in input order or as they finish, each exactly once, and
worker processes killed from outside are replaced and their payloads re-run.

Example:
    >>> from streamalign.engine import execute
    >>> for completed in execute(sum, [[1, 2], [3, 4], [5]], backend="threads", workers=2):
    ...     print(completed.index, completed.result)
    0 3
    1 7
    2 5
"""

from streamalign.engine.backends import ProcessBackend, SerialBackend, ThreadBackend
from streamalign.engine.base import Backend, Completed, Task
from streamalign.engine.dask_backend import DaskBackend  # imports Dask only when built
from streamalign.engine.exceptions import RemoteTraceback, WorkerCrashError
from streamalign.engine.execution import BACKENDS, execute, make_backend, resolve_workers
from streamalign.engine.ordering import ReorderBuffer

__all__ = [
    "BACKENDS",
    "Backend",
    "Completed",
    "DaskBackend",
    "ProcessBackend",
    "RemoteTraceback",
    "ReorderBuffer",
    "SerialBackend",
    "Task",
    "ThreadBackend",
    "WorkerCrashError",
    "execute",
    "make_backend",
    "resolve_workers",
]
