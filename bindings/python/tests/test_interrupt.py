"""Ctrl+C (SIGINT) interrupts a blocked lock acquire and a watch iteration; the interrupted
acquire leaves the queue."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

import pytest

import clustron


def interrupt_when(ready: Callable[[], bool]) -> threading.Thread:
    def send() -> None:
        while not ready():
            pass
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_ctrl_c_interrupts_a_queued_acquire(store: clustron.Store) -> None:
    holder = store.locks.acquire("job", ttl=600)
    sender = interrupt_when(lambda: store.locks.info("job").waiters == 1)  # type: ignore[union-attr]
    with pytest.raises(KeyboardInterrupt):
        store.locks.acquire("job", wait=3600)
    sender.join(10)
    assert store.locks.info("job").waiters == 0  # type: ignore[union-attr]
    assert holder.release()


def test_ctrl_c_interrupts_a_watch_iteration(store: clustron.Store) -> None:
    watch = store.watch.prefix("nothing/")
    started = threading.Event()
    sender = interrupt_when(started.is_set)
    with pytest.raises(KeyboardInterrupt):
        started.set()
        for _ in watch:
            pass
    sender.join(10)
    store.put("nothing/now", "x")
    event = watch.next(0)  # the watch still works after the interruption
    assert event is not None and event.key == "nothing/now"


def test_ctrl_c_interrupts_a_session_wait(store: clustron.Store) -> None:
    session = store.session(30)
    started = threading.Event()
    sender = interrupt_when(started.is_set)
    with pytest.raises(KeyboardInterrupt):
        started.set()
        session.wait_lost()
    sender.join(10)
    assert not session.lost
    session.close()
