"""Zendesk-shaped error bodies: `{"error": "RecordNotFound", "description": "Not found"}`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

__all__ = ["ApiError", "install_error_handlers", "not_found"]


class ApiError(Exception):
    """An API failure with Zendesk's status, error code and description."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def not_found() -> ApiError:
    return ApiError(404, "RecordNotFound", "Not found")


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(
        {"error": exc.error, "description": exc.description}, status_code=exc.status
    )


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    # Name the offending parameters only: the sandbox answers like the real API, which does not
    # echo request values back in validation errors.
    assert isinstance(exc, RequestValidationError)
    fields = sorted({".".join(str(p) for p in e["loc"][1:]) or "body" for e in exc.errors()})
    return JSONResponse(
        {"error": "InvalidValue", "description": f"Invalid value for {', '.join(fields)}"},
        status_code=400,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid)
