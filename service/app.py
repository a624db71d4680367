"""The HTTP service (数据服务): OAuth2 client-credentials tokens, the catalogue and the query endpoint over gold.

Each request is authenticated, rate-limited, scoped and masked by the service itself, whatever the filter, and
written to the audit (ops.data_access), its outcome included.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import re
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import parse_qs

import jwt
import pyarrow as pa
import pyarrow.csv as pacsv
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError

from safecity.service import errors, query, rights, tokens
from safecity.service.audit import AccessRecord, AuditLog, describe_filters
from safecity.service.catalogue import TableInfo, describe, gold_tables
from safecity.service.clients import Client, verify_secret
from safecity.service.errors import ServiceError
from safecity.service.limits import RateLimiter
from safecity.transforms.gold import GOLD, RESTRICTED

MAX_BODY = 64 * 1024
TABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,127}")
TIMEOUT_SECONDS = 60.0
DESCRIPTION = ("SafeCity 数据服务：为下游平台提供经认证、按辖区限定、脱敏并审计的金层数据读取。\n\n"
               "SafeCity data service: authenticated, jurisdiction-scoped, masked and audited reads of the gold tables.")


@dataclass
class Service:
    catalog: Catalog
    clients: dict[str, Client]
    key: str
    audit: AuditLog
    limiter: RateLimiter

    def table(self, client: Client, name: str):
        if not TABLE_NAME.fullmatch(name) or not client.may_read(name):
            raise errors.not_found(name)
        try:
            table = self.catalog.load_table(f"{GOLD}.{name}")
        except NoSuchTableError:
            raise errors.not_found(name) from None
        info = describe(table, name)
        # Only a client cleared for a column gold masks opens the restricted table (rights module docstring).
        if rights.wants_restricted(client, info):
            try:
                restricted = self.catalog.load_table(f"{RESTRICTED}.{name}")
            except NoSuchTableError:
                restricted = None    # published before the restricted namespace existed: gold, masked, it is
            cleared = rights.as_read_by(client, info, restricted) if restricted is not None else None
            if cleared is not None:
                table, info = restricted, cleared
        try:
            scope = rights.row_scope(client, info)
        except rights.NotInScope:
            raise errors.not_found(name) from None
        return table, info, scope


def _authenticate(service: Service, request: Request) -> Client:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        raise errors.unauthorized("missing bearer token")
    try:
        client_id = tokens.subject(service.key, header[7:].strip())
    except jwt.ExpiredSignatureError:
        raise errors.unauthorized("token expired") from None
    except jwt.InvalidTokenError as exc:
        raise errors.unauthorized(f"invalid token: {exc}") from None
    client = service.clients.get(client_id)
    if client is None:
        raise errors.unauthorized("unknown client")
    request.state.client = client
    wait = service.limiter.allow(client.id, client.requests_per_minute)
    if wait:
        raise ServiceError(429, "E_RATE", "请求过于频繁，请稍后再试", f"rate limit exceeded, retry in {wait:.1f} s",
                           {"Retry-After": str(int(wait) + 1)})
    return client


def _record(service: Service, request: Request, status: int, **fields) -> None:
    client = getattr(request.state, "client", None)
    service.audit.record(AccessRecord(
        ts=dt.datetime.now(dt.timezone.utc), client_id=client.id if client else fields.pop("client_id", ""),
        role=f"{client.level}:{client.unit or ''}:{client.clearance}" if client else "",
        table_name=fields.get("table_name", ""), columns=fields.get("columns", ""),
        unmasked_columns=fields.get("unmasked_columns", ""), sensitive_columns=fields.get("sensitive_columns", 0),
        filters=fields.get("filters", ""), rows=fields.get("rows", 0), snapshot_id=fields.get("snapshot_id"),
        outcome=getattr(request.state, "outcome", None) or ("ok" if status < 400 else f"http_{status}"),
        status=status, path=request.url.path))


def _info_json(info: TableInfo, client: Client) -> dict:
    """The table as this client reads it: `masked` says whether a column comes masked or in clear for it."""
    visible = set(rights.visible_columns(client, info))
    return {"name": info.name, "description_zh": info.description_zh, "description_en": info.description_en,
            "snapshot_id": info.snapshot_id, "updated_at": info.updated_at,
            "columns": [{"name": c.name, "type": c.type, "description_zh": c.description_zh,
                         "description_en": c.description_en, "sensitivity": c.sensitivity, "masked": c.masked}
                        for c in info.columns if c.name in visible]}


def _encode(fmt: str, batches: Iterator[pa.RecordBatch], schema_names: list[str], order_by: list[str],
            counted: list[int]) -> Iterator[bytes]:
    """The batches as JSON (rows, then next_after), CSV or an Arrow IPC stream, one chunk per batch."""
    last = None
    first = True
    sink = io.BytesIO()
    writer = None
    if fmt == "json":
        yield b'{"rows": ['
    for batch in batches:
        counted[0] += batch.num_rows
        if fmt == "json":
            rows = batch.to_pylist()
            if rows:
                text = ",".join(json.dumps(r, ensure_ascii=False, default=str) for r in rows)
                yield (("" if first else ",") + text).encode()
                first, last = False, rows[-1]
        elif fmt == "csv":
            pacsv.write_csv(pa.Table.from_batches([batch]), sink,
                            pacsv.WriteOptions(include_header=counted[0] == batch.num_rows))
        else:
            writer = writer or pa.ipc.new_stream(sink, batch.schema)
            writer.write_batch(batch)
        if sink.tell():
            yield sink.getvalue()
            sink.seek(0), sink.truncate()
    if fmt == "json":
        after = [last[c] for c in order_by] if last and order_by else None
        yield (f'], "next_after": {json.dumps(after, ensure_ascii=False, default=str)}}}').encode()
    elif fmt == "arrow":
        writer = writer or pa.ipc.new_stream(sink, pa.schema([(n, pa.string()) for n in schema_names]))
        writer.close()
        yield sink.getvalue()
    elif fmt == "csv" and counted[0] == 0:
        yield (",".join(schema_names) + "\n").encode()


def _needed(info: TableInfo, body: query.QueryRequest, the_plan: query.Plan) -> dict[str, str]:
    """The columns the scan must read (those returned, sorted or filtered on, and those the row scope tests), each
    with the stored column it is read from."""
    wanted = {*the_plan.columns, *body.order_by, *(f.column for f in body.filters), *rights.SCOPE_COLUMNS}
    return rights.stored_columns(info, wanted)


def _stream(service: Service, request: Request, name: str, body: query.QueryRequest) -> StreamingResponse:
    client = request.state.client
    table, info, scope = service.table(client, name)
    visible = rights.visible_columns(client, info)
    snapshot = query.pin_snapshot(table, body)
    if body.format == "json" and body.limit > query.MAX_PAGE:
        raise query.BadRequest("E_LIMIT", f"JSON 每页最多 {query.MAX_PAGE} 行，请用 arrow 导出",
                               f"JSON pages hold at most {query.MAX_PAGE} rows; use format=arrow for exports")
    the_plan = query.plan(body, visible, scope, snapshot)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    counted = [0]
    audit_fields = {"table_name": info.identifier, "columns": ",".join(the_plan.columns),
                    "unmasked_columns": ",".join(rights.unmasked_sensitive(info, the_plan.columns)),
                    "sensitive_columns": rights.sensitive_read(info, the_plan.columns),
                    "filters": describe_filters(body.filters), "snapshot_id": snapshot}
    request.state.streamed = True

    def timed() -> Iterator[pa.RecordBatch]:
        for batch in query.batches(table, the_plan, _needed(info, body, the_plan)):
            if time.monotonic() > deadline:
                request.state.outcome = "E_TIMEOUT"
                raise TimeoutError(f"query exceeded {TIMEOUT_SECONDS:.0f} s")
            yield batch

    def chunks() -> Iterator[bytes]:
        try:
            yield from _encode(body.format, timed(), the_plan.columns, body.order_by, counted)
        except Exception:
            # The status line is already sent: the audit keeps why the stream broke off.
            request.state.outcome = getattr(request.state, "outcome", None) or "E_STREAM"
            raise
        finally:
            _record(service, request, 200, rows=counted[0], **audit_fields)

    media = {"json": "application/json", "csv": "text/csv; charset=utf-8",
             "arrow": "application/vnd.apache.arrow.stream"}[body.format]
    return StreamingResponse(chunks(), media_type=media, headers={"X-Snapshot-Id": str(snapshot)})


def _routes(app: FastAPI, service: Service) -> None:
    @app.post("/oauth/token", summary="获取访问令牌 / Get an access token",
              description="OAuth2 client_credentials：表单提交 client_id 与 client_secret。/ "
                          "OAuth2 client credentials: form fields client_id and client_secret.")
    async def token(request: Request) -> dict:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        request.state.client_id = form.get("client_id", "")
        if form.get("grant_type") != "client_credentials":
            raise ServiceError(400, "E_GRANT", "仅支持 client_credentials", "grant_type must be client_credentials")
        client = service.clients.get(form.get("client_id", ""))
        if client is None or not verify_secret(form.get("client_secret", ""), client.secret_hash):
            raise ServiceError(401, "E_CLIENT", "客户端编号或密钥错误", "unknown client or wrong secret")
        request.state.client = client
        return {"access_token": tokens.issue(service.key, client.id), "token_type": "Bearer",
                "expires_in": tokens.LIFETIME_SECONDS}

    @app.get("/v1/tables", summary="数据目录 / Catalogue",
             description="本客户端可读的金层数据表 / The gold tables this client may read.")
    def catalogue(request: Request) -> dict:
        client = _authenticate(service, request)
        found = []
        for name in gold_tables(service.catalog):
            try:
                _, info, _ = service.table(client, name)
            except ServiceError:
                continue
            found.append(_info_json(info, client))
        return {"tables": found}

    @app.get("/v1/tables/{name}", summary="数据表说明 / Table description",
             description="列、类型、中英文说明、敏感级别、新鲜度 / Columns, types, zh/en descriptions, sensitivity, freshness.")
    def table(name: str, request: Request) -> dict:
        client = _authenticate(service, request)
        _, info, _ = service.table(client, name)
        return _info_json(info, client)

    @app.post("/v1/tables/{name}/query", summary="查询数据 / Query a table",
              description="列选择、过滤、排序、键集分页、按快照读取；JSON、CSV 或 Arrow IPC 流式返回。/ Columns, "
                          "filters, sorting, keyset pagination, as_of; streamed JSON, CSV or Arrow IPC.")
    def read(name: str, body: query.QueryRequest, request: Request):
        _authenticate(service, request)
        try:
            return _stream(service, request, name, body)
        except query.BadRequest as exc:
            raise ServiceError(400, exc.code, exc.zh, exc.en) from None


def create_app(catalog: Catalog, clients: dict[str, Client], key: str) -> FastAPI:
    audit = AuditLog(catalog)
    service = Service(catalog, clients, key, audit, RateLimiter())

    @asynccontextmanager
    async def lifespan(_app):
        yield
        audit.close()

    app = FastAPI(title="SafeCity 数据服务 / SafeCity data service", description=DESCRIPTION, version="1",
                  lifespan=lifespan)
    app.state.service = service
    errors.install(app)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if int(request.headers.get("content-length") or 0) > MAX_BODY or len(str(request.url)) > 8192:
            response = errors.JSONResponse(errors.body("E_TOO_LARGE", "请求过大", f"request over {MAX_BODY} bytes"),
                                           status_code=413)
        else:
            response = await call_next(request)
        if not getattr(request.state, "streamed", False) or response.status_code >= 400:
            _record(service, request, response.status_code, client_id=getattr(request.state, "client_id", ""))
        return response

    _routes(app, service)
    return app
