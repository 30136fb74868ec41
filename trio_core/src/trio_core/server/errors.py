"""Errors as OpenAI-style error objects: ``{"error": {"message", "type", "param", "code"}}``.

Every mistake a client can make maps to a 4xx with one clear sentence; only a fault of the
server itself is a 500.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    BackendUnavailableError,
    ConfigError,
    IncompatibleOptimizerError,
    MediaError,
    ModelLoadError,
    PluginNotFoundError,
    TrioError,
)
from ..frames import TooManyPixels
from ..outbound import AddressRefused

log = logging.getLogger("trio.server")

# The error type OpenAI's clients expect for each status.
TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
    504: "timeout_error",
}


class APIError(Exception):
    """A request that cannot be served, with the status and sentence the client gets."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None, headers=None):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.headers = status, message, param, code, headers


def error_body(status: int, message: str, *, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": TYPES.get(status, "server_error"), "param": param, "code": code}}


def error_response(status: int, message: str, *, param=None, code=None, headers=None) -> JSONResponse:
    return JSONResponse(error_body(status, message, param=param, code=code), status_code=status, headers=headers)


def status_of(error: TrioError) -> int:
    """The HTTP status for an error the engine raised while serving a request."""
    if isinstance(error, TooManyPixels):  # media larger than the server decodes: the request is too large
        return 413
    if isinstance(error, AddressRefused):  # an address the request may not reach (a redirect found on the way)
        return 403
    if isinstance(error, MediaError | ConfigError | IncompatibleOptimizerError | PluginNotFoundError):
        return 400
    if isinstance(error, ModelLoadError):
        return 422
    if isinstance(error, BackendUnavailableError):  # a gateway whose servers are all down or busy: not the client's
        return 503
    return 400


def stream_error(error: Exception) -> dict:
    """The error object for a stream that has already started (its status line is sent: the error goes in it)."""
    if isinstance(error, APIError):
        return error_body(error.status, error.message, param=error.param, code=error.code)
    if isinstance(error, TrioError):
        return error_body(status_of(error), str(error))
    log.exception("internal error while streaming")
    return error_body(500, "Internal server error.")


def install(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(request: Request, error: APIError):
        return error_response(error.status, error.message, param=error.param, code=error.code, headers=error.headers)

    @app.exception_handler(TrioError)
    async def trio_error(request: Request, error: TrioError):
        return error_response(status_of(error), str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        problem = error.errors()[0]
        where = [str(part) for part in problem.get("loc", ()) if part not in ("body", "query", "path", "header")]
        param = ".".join(where) or None
        message = problem.get("msg", "invalid request")
        return error_response(400, f"{param}: {message}" if param else message, param=param)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        return error_response(error.status_code, str(error.detail), headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def fault(request: Request, error: Exception):
        log.exception("internal error", extra={"request_id": getattr(request.state, "request_id", None)})
        return error_response(500, "Internal server error; the request id is in the X-Request-ID header.")
