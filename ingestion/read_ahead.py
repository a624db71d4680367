"""Reading a source's next file in a second process while the current one is judged.

Reading a GA/T 1400 document is Python (json, then Arrow built from the records: one core) and judging it is mostly
DuckDB, so over a day's 74 pass files one core sat idle for half of every file. The file after the current one is
read ahead in a worker process, and what the judge gets is what reading in process gives: the worker's table when
it read the file, and on any failure there (the reader's own error, a worker that died or was killed) the file is
read again in process, so the error a batch is rejected with is the reader's own, raised where it always was.
Batches, containment and commits are unchanged; only files a worker's start pays for are read ahead.
"""
from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable

from safecity.ingestion.landing import Landing
from safecity.ingestion.mapping import SourceMapping
from safecity.ingestion.readers import RawBatch

log = logging.getLogger(__name__)

# Files smaller than this are read in process: a worker's start (about a second) costs more than their read.
READ_AHEAD_BYTES = 8 * 2**20


def _read(mapping: SourceMapping, data: bytes, where: str) -> RawBatch:
    return mapping.read(data, where)


class ReadAhead:
    """One worker process reading files of one source mapping ahead of the caller; a context manager (the worker
    stops on exit). `wanted(name, data)` says whether a file still needs reading (False: already ingested)."""

    def __init__(self, mapping: SourceMapping, landing: Landing, wanted: Callable[[str, bytes], bool]):
        self.mapping, self.landing, self.wanted = mapping, landing, wanted
        self._pool: ProcessPoolExecutor | None = None
        self._ahead: dict[str, tuple[bytes, Future]] = {}
        self._stopped = False

    def __enter__(self) -> "ReadAhead":
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._ahead.clear()

    def start(self, name: str) -> None:
        """Start reading `name` in the worker, if it is large enough and not yet ingested."""
        if self._stopped or name in self._ahead:
            return
        try:
            data = self.landing.read(name)
        except OSError:
            return  # read (and its error reported) in turn
        if len(data) < READ_AHEAD_BYTES or not self.wanted(name, data):
            return
        if self._pool is None:
            # spawn, not fork: the judge's DuckDB threads are running, and a forked child inherits their locks
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        try:
            self._ahead[name] = (data, self._pool.submit(_read, self.mapping, data, self.landing.uri(name)))
        except BrokenProcessPool:
            self._stop(name)

    def _stop(self, name: str) -> None:
        if not self._stopped:
            log.warning("%s: the read-ahead worker stopped; files are read in process from here",
                        self.landing.uri(name))
        self._stopped = True

    def take(self, name: str) -> tuple[bytes, Callable[[], RawBatch]] | None:
        """The bytes of `name` and its read, if it was started; None if it was not."""
        started = self._ahead.pop(name, None)
        if started is None:
            return None
        data, future = started
        where = self.landing.uri(name)

        def read() -> RawBatch:
            try:
                return future.result()
            except BrokenProcessPool:
                self._stop(name)
            except Exception:  # noqa: BLE001 -- read again below, so that the error raised is the reader's own
                pass
            return self.mapping.read(data, where)
        return data, read
