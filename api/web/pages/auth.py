"""Sign in with an API key, sign out, and the start page that sends each role to its home."""

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from api.deps import loaded_registry
from api.errors import error_response
from api.web.render import OptionalQuery, WebRequest, flash, render
from api.web.session import HOME, WEB_PAGE, SignInRequired, sign_in, sign_out, web_account

REASONS = {
    "expired": "Your session has expired; sign in again.",
    "revoked": "The key of your session was revoked; sign in with another key.",
}


def _safe_next(path: str | None) -> str | None:
    """Only local paths: a sign-in link must not be usable to send people to another site."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return None


class AuthPages(Controller):
    include_in_schema = False
    opt = WEB_PAGE

    @get("/", sync_to_thread=True)
    def home(self, request: WebRequest) -> Redirect:
        try:
            account = web_account(request)
        except SignInRequired:
            return Redirect("/signin")
        return Redirect(HOME[account.role])

    @get("/signin", sync_to_thread=False)
    def signin_form(self, request: WebRequest, next: OptionalQuery = None,
                    reason: OptionalQuery = None) -> Template:
        return render(request, "signin.html", None, next_path=_safe_next(next) or "", error=REASONS.get(reason or ""))

    @post("/signin", sync_to_thread=True)
    def signin(self, request: WebRequest, data: Annotated[
            dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Template | Redirect:
        registry = loaded_registry(request.app.state)
        key = (data.get("key") or "").strip()
        next_path = _safe_next(data.get("next"))
        account = sign_in(request, registry, key, request.app.state.settings.web.session_hours) if key else None
        if account is None:
            message = "Paste your API key." if not key else "That key is unknown or revoked. Ask your admin for a key."
            return render(request, "signin.html", None, status_code=401, error=message, next_path=next_path or "")
        flash(request, "ok", f"Signed in as {account.name} ({account.role.value}).")
        return Redirect(next_path or HOME[account.role])

    @post("/signout", sync_to_thread=True)
    def signout(self, request: WebRequest) -> Redirect:
        sign_out(request)
        return Redirect("/signin")


def signin_required(request: WebRequest, exc: SignInRequired) -> Response[Any]:
    """Pages redirect to the sign-in form (and come back after); scripts get a 401 they can act on."""
    if "text/html" not in request.headers.get("accept", ""):
        return error_response(401, "unauthenticated", "sign in first: your session is missing or has ended")
    query = {"next": exc.next_path} if request.method in ("GET", "HEAD") else {}
    if exc.reason:
        query["reason"] = exc.reason
    return Redirect("/signin" + (f"?{urlencode(query)}" if query else ""))
