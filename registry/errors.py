"""The project's exception types; only `api/` maps them to HTTP statuses."""


class ProvenanceError(Exception):
    """Base of every error the registry and the matcher raise on purpose."""

    code = "error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(ProvenanceError):
    """The caller sent something malformed: say what and how to fix it."""

    code = "invalid_input"


class UnsupportedContent(InvalidInput):
    """The content is not an image or text we can fingerprint."""

    code = "unsupported_content"


class ContentTooLarge(InvalidInput):
    """The content is over a configured limit."""

    code = "content_too_large"


class NotFound(ProvenanceError):
    code = "not_found"


class Gone(ProvenanceError):
    """The thing existed and was withdrawn: it is not coming back at this address."""

    code = "gone"


class Conflict(ProvenanceError):
    code = "conflict"


class IdempotencyKeyReused(ProvenanceError):
    """An Idempotency-Key sent again with a different request."""

    code = "idempotency_key_reused"


class PreconditionFailed(ProvenanceError):
    """The item changed since the caller read it (an `If-Match` that no longer holds)."""

    code = "precondition_failed"


class PermissionDenied(ProvenanceError):
    code = "forbidden"


class Unauthenticated(ProvenanceError):
    code = "unauthenticated"


class IntegrityError(ProvenanceError):
    """Stored state is inconsistent (for example a broken audit chain)."""

    code = "integrity_error"
