"""The live command board (`safecity board`): one page, pushed to by server-sent events.

A background task looks at the tables every `poll` seconds (board_feed.py) and wakes the open streams when
something changed. Each stream sends the new outbox rows as `action` events whose id is the row's place in the
feed, so a browser that reconnects (EventSource sends Last-Event-ID by itself) gets exactly the rows it missed,
then a `state` event: the board derived from all rows (board_state.py), without an id so it does not move the
resume point. A first connection gets the latest rows and the state; the page needs no reload.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pyiceberg.catalog import Catalog

from safecity.config.profiles import Settings
from safecity.service.board_feed import Change, OutboxFeed
from safecity.service.board_map import CityMap
from safecity.service.board_network import NetworkLayer
from safecity.service.board_page import render_page
from safecity.service.board_state import LATEST, derive

POLL_SECONDS = 0.2
KEEPALIVE_SECONDS = 15.0   # a comment line this often lets the server notice a closed browser
RETRY_MS = 1000            # how soon a browser reconnects after the stream broke

log = logging.getLogger(__name__)


class Board:
    def __init__(self, catalog: Catalog, settings: Settings):
        self.feed = OutboxFeed(catalog)
        self.map = CityMap(settings)
        self.network = NetworkLayer(catalog, self.map.place)
        self.closed: set[str] = set()
        self.delivery: dict[str, list[dict]] | None = None
        self.version = 0
        # The network layer (a city has ~2,000 links) goes out as its own `network` event, only when it changed,
        # not inside every `state` event an action causes.
        self.network_version = 0
        self.error = ""
        self.state = self._derive()
        self._changed = asyncio.Condition()

    def _derive(self) -> dict:
        state = derive(self.feed.rows, self.closed, self.delivery)
        # The rows themselves go out as `action` events; the state carries only their delivery status.
        state["delivery"] = {row["idempotency_key"]: row["delivery"] for row in state.pop("latest")}
        state["markers"] = self.map.markers(state)
        state["last_seq"] = len(self.feed.rows)
        state["error"] = self.error
        return state

    async def apply(self, change: Change) -> None:
        self.feed.take(change)
        if change.closed is not None:
            self.closed = change.closed
        if change.delivery is not None:  # None until ops.action_delivery has a snapshot: status unknown
            self.delivery = change.delivery
        if change.network is not None:
            self.network.take(change.network)
            self.network_version += 1
        self.state = self._derive()
        self.version += 1
        async with self._changed:
            self._changed.notify_all()

    async def wait(self, version: int, timeout: float) -> bool:
        """Until the board is past `version` (True) or `timeout` seconds passed (False)."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.version != version), timeout)
                return True
            except asyncio.TimeoutError:
                return False

    def _look(self) -> Change:
        change = self.feed.look()
        change.network = self.network.look()
        return change

    async def watch(self, poll: float) -> None:
        while True:
            try:
                change = await asyncio.to_thread(self._look)
                error = ""
            except Exception as exc:  # noqa: BLE001 - a catalog hiccup is shown on the board, the next look retries
                log.exception("board: reading the tables failed")
                change, error = Change(), f"读取失败 / read failed: {exc}"
            if change or error != self.error:
                self.error = error
                await self.apply(change)
            await asyncio.sleep(poll)


def _event(name: str, data: dict, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


def _resume_point(request: Request, rows: int) -> int:
    """Rows already shown: Last-Event-ID (sent by a reconnecting EventSource) or ?after=, else all but the latest."""
    given = request.headers.get("last-event-id") or request.query_params.get("after")
    if given is None:
        return max(0, rows - LATEST)
    try:
        return min(max(0, int(given)), rows)
    except ValueError:
        return max(0, rows - LATEST)


async def _stream(board: Board, request: Request) -> AsyncIterator[str]:
    sent = _resume_point(request, len(board.feed.rows))
    version = network_version = None
    yield f"retry: {RETRY_MS}\n\n"
    while not await request.is_disconnected():
        rows = board.feed.rows
        for row in rows[sent:]:
            yield _event("action", row.json(), row.seq)
        sent = len(rows)
        if board.version != version:
            version = board.version
            if board.network_version != network_version:
                network_version = board.network_version
                yield _event("network", {"links": board.network.links})
            yield _event("state", board.state)
        if not await board.wait(version, KEEPALIVE_SECONDS):
            yield ": keepalive\n\n"


def create_board_app(catalog: Catalog, settings: Settings, poll: float = POLL_SECONDS) -> FastAPI:
    holder: dict[str, Board] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        board = holder["board"] = Board(catalog, settings)
        task = asyncio.create_task(board.watch(poll))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="SafeCity 指挥大屏 / command board", lifespan=lifespan, docs_url=None, redoc_url=None)
    page = render_page(settings, CityMap(settings))

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return page

    @app.get("/state")
    async def state() -> JSONResponse:
        board = holder["board"]
        return JSONResponse({**board.state, "network": board.network.links})

    @app.get("/events")
    async def events(request: Request) -> StreamingResponse:
        # no-transform/X-Accel-Buffering: a proxy in front must not hold the stream back in a buffer.
        return StreamingResponse(_stream(holder["board"], request), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"})

    return app
