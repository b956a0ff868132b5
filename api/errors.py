"""One place that maps errors to HTTP: `{"error": {"code", "message"}}` with the right status."""

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.response import Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from api.schemas import ErrorOut
from registry.claims import DisputeReason, Keep
from registry.errors import (
    Conflict,
    ContentTooLarge,
    Gone,
    IdempotencyKeyReused,
    IntegrityError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ProvenanceError,
    Unauthenticated,
    UnsupportedContent,
)
from registry.models import Verdict
from registry.terms import PURPOSES, RELEASE_USES, TDM_USES

log = logging.getLogger("provenance.api")

STATUS: list[tuple[type[ProvenanceError], int]] = [
    (Unauthenticated, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (Gone, 410),
    (Conflict, 409),
    (PreconditionFailed, 412),
    (IdempotencyKeyReused, 422),
    (ContentTooLarge, 413),
    (UnsupportedContent, 415),
    (InvalidInput, 400),
    (IntegrityError, 500),
]


HEADINGS = {400: "That did not work", 401: "Sign in first", 403: "Not for your role", 404: "Not found",
            410: "Withdrawn",
            413: "Too large", 415: "Not a supported file", 429: "Slow down", 503: "Starting up"}


def error_response(status: int, code: str, message: str, details: dict[str, object] | None = None,
                   headers: dict[str, str] | None = None) -> Response[dict[str, object]]:
    body: dict[str, object] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return Response({"error": body}, status_code=status, media_type=MediaType.JSON, headers=headers)


def wants_page(request: Request) -> bool:  # type: ignore[type-arg]
    """A browser asking for a web page (not the API, not a script asking for JSON)."""
    path = request.url.path
    return (not path.startswith(("/v1/", "/schema")) and "text/html" in request.headers.get("accept", "")
            and "application/json" not in request.headers.get("accept", ""))


def respond(request: Request, status: int, code: str, message: str,  # type: ignore[type-arg]
            details: dict[str, object] | None = None, headers: dict[str, str] | None = None) -> Response[Any]:
    """The error as JSON, or as a page for a browser on the web interface."""
    if wants_page(request):
        account = request.scope.get("user")
        return Template(template_name="error.html", status_code=status, headers=headers, context={
            "status": status, "heading": HEADINGS.get(status, "Something went wrong"), "message": message,
            "account": account, "flashes": []})
    return error_response(status, code, message, details, headers)


def status_of(exc: ProvenanceError) -> int:
    return next((code for cls, code in STATUS if isinstance(exc, cls)), 400)


def provenance_error(request: Request, exc: ProvenanceError) -> Response[Any]:  # type: ignore[type-arg]
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return respond(request, status, exc.code, exc.message, dict(exc.details) or None, headers)


# the accepted values of the choices a request names, for messages that say what to send instead
ACCEPTED: dict[str, tuple[str, ...]] = {
    "use": TDM_USES,
    "release": RELEASE_USES,
    "release.use": RELEASE_USES,
    "purpose": PURPOSES,
    "reason": tuple(r.value for r in DisputeReason),
    "keep": tuple(k.value for k in Keep),
    "verdict": tuple(v.value for v in Verdict),
}

_HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 410: "gone",
               405: "method_not_allowed", 409: "conflict", 413: "content_too_large", 415: "unsupported_content",
               422: "invalid_input", 429: "too_many_requests"}


def http_error(request: Request, exc: HTTPException) -> Response[Any]:  # type: ignore[type-arg]
    status = exc.status_code
    code = _HTTP_CODES.get(status, "error")
    details: dict[str, object] | None = None
    message = exc.detail or code
    if isinstance(exc, ValidationException) and exc.extra:
        details = {"problems": exc.extra}
        message = f"{message}: {'; '.join(_problem(p) for p in exc.extra[:3])}" if isinstance(exc.extra, list) \
            else message
    if status == 413:
        message = "request body is over the upload size limit; send a smaller file"
    if status == 403 and "CSRF" in message:
        message = ("the form's security token is missing or stale (CSRF protection); "
                   "reload the page and submit it again")
    return respond(request, status, code, message, details, exc.headers)


def _problem(problem: object) -> str:
    """One validation problem as a phrase: where, and what (with the accepted values of a choice)."""
    if not isinstance(problem, dict):
        return str(problem)
    where = problem.get("key") or problem.get("source") or "request"
    what = str(problem.get("message", "invalid"))
    return f"{where}: {what}{accepted_hint(str(where), what)}"


def accepted_hint(where: str, what: str) -> str:
    """` (use one of ...)` for a bad choice at `where` (a dotted or `$.`-path), else nothing."""
    parts = where.removeprefix("$.").strip("`").split(".")
    accepted = (ACCEPTED.get(".".join(parts[-2:])) or ACCEPTED.get(parts[-1])) if "enum" in what.lower() else None
    return f" (use one of {', '.join(accepted)})" if accepted else ""


def too_deep(request: Request, exc: RecursionError) -> Response[Any]:  # type: ignore[type-arg]
    """Decoding a body nested thousands of levels deep (msgspec refuses past its recursion limit)."""
    return respond(request, 400, "invalid_input", "the request body is nested too deeply to read; "
                   "JSON objects and arrays may nest a few dozen levels, not thousands")


def unexpected_error(request: Request, exc: Exception) -> Response[Any]:  # type: ignore[type-arg]
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return respond(request, HTTP_500_INTERNAL_SERVER_ERROR, "internal_error",
                   "an unexpected error occurred; it has been logged")


ERROR_RESPONSES: dict[int, ResponseSpec] = {
    status: ResponseSpec(data_container=ErrorOut, description=description, generate_examples=False)
    for status, description in [
        (400, "The request is malformed: the message says what to fix."),
        (401, "No API key, or an unknown or revoked one."),
        (403, "The key's role may not use this endpoint."),
        (404, "No such item, or not one this key may see."),
        (409, "Already enrolled: `details.existing_id` names the existing work."),
        (412, "The work changed since its ETag was read (If-Match): read it again and retry."),
        (422, "The Idempotency-Key was used for another request in the last 24 hours."),
        (413, "Over the upload size, pixel or text length limit."),
        (415, "Not an image or text that can be fingerprinted (empty, truncated, mislabelled, not UTF-8)."),
        (429, "Over the request rate of this key: wait as long as the Retry-After header says."),
        (503, "The registry is still loading its indexes."),
    ]
}

EXCEPTION_HANDLERS = {ProvenanceError: provenance_error, HTTPException: http_error, RecursionError: too_deep,
                      Exception: unexpected_error}
