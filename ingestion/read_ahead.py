"""Reading a source's next file in a second process while the current one is judged.

Reading a GA/T 1400 document is Python (json, then Arrow built from the records: one core) and judging it is mostly
DuckDB, so over a day's 74 pass files one core sat idle for half of every file. The file after the current one is
read ahead in a worker process, and what the judge gets is what reading in process gives: the worker's table when
it read the file, and on any failure there (the reader's own error, a worker that died or was killed) the file is
read again in process, so the error a batch is rejected with is the reader's own, raised where it always was.
Batches, containment and commits are unchanged; only files a worker's start pays for are read ahead.

The worker is `python -m safecity.ingestion.read_ahead`, fed pickles on its standard input and answering on its
standard output, not a multiprocessing pool: a pool's spawned child first runs the parent's main script again, and a
data engineer's script that ingests without an `if __name__ == "__main__"` guard would then ingest twice at once.
"""
from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from typing import Callable

from safecity.ingestion.landing import Landing
from safecity.ingestion.mapping import SourceMapping
from safecity.ingestion.readers import RawBatch

log = logging.getLogger(__name__)

# Files smaller than this are read in process: a worker's start (about a second) costs more than their read.
READ_AHEAD_BYTES = 8 * 2**20


class WorkerGone(RuntimeError):
    """The worker process ended or its answer could not be read."""


class _Worker:
    """The worker process: one request at a time, answered in order."""

    def __init__(self):
        self.process = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE)

    def send(self, mapping: SourceMapping, data: bytes, where: str) -> None:
        try:
            pickle.dump((mapping, data, where), self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.process.stdin.flush()
        except (OSError, ValueError) as exc:
            raise WorkerGone(str(exc)) from exc

    def receive(self) -> tuple[bool, object]:
        """(True, the RawBatch) or (False, the error's text)."""
        try:
            return pickle.load(self.process.stdout)
        except (EOFError, OSError, pickle.UnpicklingError, ValueError) as exc:
            raise WorkerGone(str(exc) or type(exc).__name__) from exc

    def stop(self) -> None:
        # End of requests, and an answer no one will read dropped: the worker's loop ends either way.
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ReadAhead:
    """A worker process reading the files `names` of one source mapping one ahead of the caller, who takes them in
    that order; a context manager (the worker stops on exit). `wanted(name, data)` says whether a file still needs
    reading (False: already ingested). One request at a time: the worker answers one file before it is sent the
    next (a second request written while it writes a large answer would block both processes)."""

    def __init__(self, mapping: SourceMapping, landing: Landing, wanted: Callable[[str, bytes], bool],
                 names: list[str]):
        self.mapping, self.landing, self.wanted = mapping, landing, wanted
        self._after = dict(zip(names, names[1:]))
        self._worker: _Worker | None = None
        self._ahead: dict[str, bytes] = {}  # the file sent to the worker and its bytes
        self._stopped = False

    def __enter__(self) -> "ReadAhead":
        return self

    def __exit__(self, *exc) -> None:
        if self._worker is not None:
            self._worker.stop()
        self._ahead.clear()

    def take(self, name: str) -> tuple[bytes, Callable[[], RawBatch]] | None:
        """Called as the caller comes to `name`: its bytes and its read if the worker read it, else None (read it in
        process); the worker then starts on the file after it."""
        data = self._ahead.pop(name, None)
        answer = None
        if data is not None:
            try:
                answer = self._worker.receive()
            except WorkerGone as exc:
                self._stop(name, exc)
        if name in self._after:
            self._start(self._after[name])
        if data is None:
            return None
        where = self.landing.uri(name)

        def read() -> RawBatch:
            if answer is not None and answer[0]:
                return answer[1]
            # The worker failed: read again in process, so that the error raised is the reader's own.
            return self.mapping.read(data, where)
        return data, read

    def _start(self, name: str) -> None:
        """Send `name` to the worker, if it is large enough and not yet ingested, and the worker holds no answer
        that was not taken (a file the caller skipped)."""
        if self._stopped or self._ahead:
            return
        try:
            data = self.landing.read(name)
        except OSError:
            return  # read (and its error reported) in turn
        if len(data) < READ_AHEAD_BYTES or not self.wanted(name, data):
            return
        try:
            if self._worker is None:
                self._worker = _Worker()
            self._worker.send(self.mapping, data, self.landing.uri(name))
        except (OSError, WorkerGone) as exc:
            self._stop(name, exc)
            return
        self._ahead[name] = data

    def _stop(self, name: str, why: Exception) -> None:
        if not self._stopped:
            log.warning("%s: the read-ahead worker stopped (%s); files are read in process from here",
                        self.landing.uri(name), why)
        self._stopped = True


def _serve(requests, answers) -> None:
    """The worker's loop: (mapping, bytes, where) in, (True, RawBatch) or (False, error text) out, until the input
    ends."""
    while True:
        try:
            mapping, data, where = pickle.load(requests)
        except EOFError:
            return
        try:
            answer = (True, mapping.read(data, where))
        except Exception as exc:  # noqa: BLE001 -- the caller reads the file again and raises the reader's own error
            answer = (False, f"{type(exc).__name__}: {exc}")
        try:
            pickle.dump(answer, answers, protocol=pickle.HIGHEST_PROTOCOL)
            answers.flush()
        except BrokenPipeError:
            return  # the caller stopped without reading this answer


if __name__ == "__main__":
    # Answers go to the original standard output; anything else written there (a library's print) goes to stderr.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    _serve(sys.stdin.buffer, answers)
