"""`_thread` for an interpreter without threads.

RustPython is built without its `threading` feature: reference counts and object locks are
then plain memory operations instead of atomic ones, which makes all metadata python ~8%
cheaper (docs/python.md). `threading`, `logging` and `queue` still import and their locks
work, as locks do in a single thread. What cannot work says so instead of hanging:
starting a thread raises RuntimeError, and so does a blocking acquire of a lock that is
held (no other thread could ever release it).
"""

import time as _time

from _dummy_thread import (
    RLock,
    TIMEOUT_MAX,
    _count,
    _get_main_thread_ident,
    _is_main_interpreter,
    _local,
    _make_thread_handle,
    _shutdown,
    _ThreadHandle,
    daemon_threads_allowed,
    error,
    exit,
    get_ident,
    interrupt_main,
    stack_size,
)

_NO_THREADS = "can't start new thread: Hitzeleiter runs metadata python without threads"


def start_new_thread(function, args, kwargs={}):
    raise RuntimeError(_NO_THREADS)


def start_joinable_thread(function, handle=None, daemon=True):
    raise RuntimeError(_NO_THREADS)


class LockType:
    """A lock in a process with one thread."""

    def __init__(self):
        self._held = False

    def acquire(self, blocking=True, timeout=-1):
        if not self._held:
            self._held = True
            return True
        if blocking and timeout < 0:
            raise RuntimeError(
                "deadlock: this lock is held and there is no other thread to release it"
            )
        if blocking and timeout > 0:
            _time.sleep(timeout)
        return False

    __enter__ = acquire

    def __exit__(self, typ, val, tb):
        self.release()

    def release(self):
        if not self._held:
            raise RuntimeError("release unlocked lock")
        self._held = False

    def locked(self):
        return self._held

    def _at_fork_reinit(self):
        self._held = False


lock = LockType


def allocate_lock():
    return LockType()


def _set_sentinel():
    return LockType()
