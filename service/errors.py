"""Every failure as JSON: a code and a message in Chinese and English (错误均以 JSON 返回，含代码与中英文说明)."""
from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


class ServiceError(Exception):
    def __init__(self, status: int, code: str, zh: str, en: str, headers: dict[str, str] | None = None):
        super().__init__(en)
        self.status, self.code, self.zh, self.en, self.headers = status, code, zh, en, headers or {}


def body(code: str, zh: str, en: str) -> dict:
    return {"error": {"code": code, "message_zh": zh, "message_en": en}}


def not_found(name: str) -> ServiceError:
    # The same answer for a table that does not exist and one outside the client's rights: nothing leaks.
    return ServiceError(404, "E_NOT_FOUND", f"数据表不存在：{name}", f"no such table: {name}")


def unauthorized(en: str) -> ServiceError:
    return ServiceError(401, "E_TOKEN", "令牌无效或已过期，请重新获取", en, {"WWW-Authenticate": "Bearer"})


def install(app) -> None:
    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError):
        request.state.outcome = exc.code
        return JSONResponse(body(exc.code, exc.zh, exc.en), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        request.state.outcome = "E_REQUEST"
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        return JSONResponse(body("E_REQUEST", f"请求格式错误：{where}", f"invalid request: {where}"), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        request.state.outcome = "E_INTERNAL"
        return JSONResponse(body("E_INTERNAL", "服务内部错误", f"internal error: {type(exc).__name__}"),
                            status_code=500)
