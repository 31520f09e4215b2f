"""The GPU itself: whether one can be used, and the streams and buffers kept for it.

:func:`device_problem` says in one line what is missing (numba-cuda, or a GPU) or None; it
imports ``numba.cuda`` only when asked. Under numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``, Python per thread, for the tests) the simulated device counts
as a GPU.

Each kernel call borrows a :class:`DeviceSlot` (a CUDA stream, device arrays and pinned host
arrays, each kept and grown as needed) from a pool of ``_config.GPU_STREAMS``: calls from
several worker threads run on different streams, so one call's transfers overlap another's
kernel, and the device memory in use stays bounded whatever the worker count. A CUDA error
during a call becomes :class:`~streamalign.errors.DeviceError` (the run stops with one line;
the records are not rejected one by one).

Example:
    >>> buffers = GrowingBuffers(lambda size, dtype: np.zeros(size, dtype))
    >>> first = buffers.get("scores", 10, np.int32)
    >>> first.size, buffers.get("scores", 4, np.int32).base is first.base
    (10, True)
    >>> buffers.get("scores", 11, np.int32).size, buffers.capacity("scores")
    (11, 20)
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ... import _config
from ...errors import DeviceError, DeviceUnavailableError

#: What to install for the GPU.
INSTALL_HINT = "pip install 'streamalign[gpu]'"


def _simulated() -> bool:
    from numba.core import config

    return bool(getattr(config, "ENABLE_CUDASIM", False))


def device_problem() -> str | None:
    """Why no CUDA GPU can be used here, in one line; None when one can (or the simulator
    runs)."""
    if importlib.util.find_spec("numba_cuda") is None and not _simulated():
        return f"numba-cuda is not installed ({INSTALL_HINT})"
    try:
        from numba import cuda
    except ImportError as error:  # a broken installation
        return f"numba.cuda cannot be imported ({error}; {INSTALL_HINT})"
    if _simulated() or cuda.is_available():
        return None
    try:
        version = f"numba-cuda {importlib.metadata.version('numba-cuda')}"
    except importlib.metadata.PackageNotFoundError:
        version = "numba.cuda"
    detail = "no CUDA device"
    with contextlib.suppress(Exception):  # numba's driver object: best effort for the reason
        from numba.cuda.cudadrv import driver

        reason = getattr(driver.driver, "initialization_error", None)
        if reason:
            detail = str(reason).strip().splitlines()[0]
    return f"no CUDA GPU found ({version}: {detail})"


def require_device() -> None:
    """Raise :class:`DeviceUnavailableError` unless a CUDA GPU can be used."""
    problem = device_problem()
    if problem is not None:
        raise DeviceUnavailableError(f"device='cuda': {problem}")


class GrowingBuffers:
    """Named arrays kept for reuse: :meth:`get` returns the first ``size`` elements of the
    array of that name, reallocated (twice as large) only when it is too small."""

    def __init__(self, allocate: Callable[[int, Any], Any]) -> None:
        self._allocate = allocate
        self._arrays: dict[str, Any] = {}

    def get(self, name: str, size: int, dtype: Any) -> Any:
        array = self._arrays.get(name)
        if array is None or array.size < size or array.dtype != np.dtype(dtype):
            capacity = max(size, 1) if array is None else max(size, 2 * array.size)
            array = self._allocate(capacity, np.dtype(dtype))
            self._arrays[name] = array
        return array[:size]

    def capacity(self, name: str) -> int:
        """Elements of the array kept under ``name`` (0: none yet)."""
        array = self._arrays.get(name)
        return 0 if array is None else int(array.size)


class DeviceSlot:
    """A CUDA stream with its device and pinned host buffers, and the launch budget."""

    def __init__(self) -> None:
        from numba import cuda

        self.stream = cuda.stream()
        self.device = GrowingBuffers(lambda size, dtype: cuda.device_array(size, dtype))
        self.host = GrowingBuffers(lambda size, dtype: cuda.pinned_array(size, dtype))
        free, _ = cuda.current_context().get_memory_info()
        share = free * _config.GPU_MEMORY_FRACTION / _config.GPU_STREAMS
        #: Most bytes of working arrays (directions and column buffers) of one launch.
        self.launch_bytes = int(min(_config.GPU_MAX_LAUNCH_BYTES, max(share, 1 << 20)))


_pool_lock = threading.Lock()
_pool: queue.Queue[DeviceSlot] | None = None


@contextlib.contextmanager
def device_slot() -> Iterator[DeviceSlot]:
    """Borrow a :class:`DeviceSlot` for one kernel call (waits while all are in use).

    Raises:
        DeviceUnavailableError: no CUDA GPU can be used.
    """
    global _pool
    with _pool_lock:
        if _pool is None:
            require_device()
            slots: queue.Queue[DeviceSlot] = queue.Queue()
            # The simulator runs one kernel at a time (it refuses concurrent ones).
            for _ in range(1 if _simulated() else _config.GPU_STREAMS):
                slots.put(DeviceSlot())
            _pool = slots
        pool = _pool
    slot = pool.get()
    try:
        yield slot
    except Exception as error:
        if _from_cuda(error):
            raise DeviceError(f"the GPU failed: {type(error).__name__}: {error}") from error
        raise
    finally:
        pool.put(slot)


def _from_cuda(error: BaseException) -> bool:
    """Whether ``error`` comes from the CUDA driver or runtime (through numba or cuda-python).

    Example:
        >>> _from_cuda(ValueError("bad input")), _from_cuda(DeviceError("x"))
        (False, False)
    """
    module = type(error).__module__
    return module.startswith(("numba.cuda", "numba_cuda", "cuda."))
