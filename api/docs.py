"""The API documentation pages, served whole by the registry: Swagger UI's assets come from the pinned
`swagger-ui-py` package (no CDN), so `/schema` renders offline, under the same security headers as every
other page (its start-up script is a file of ours, so the Content-Security-Policy needs no inline script)."""

from html import escape
from pathlib import Path
from typing import Any

import swagger_ui
from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin

ASSETS = Path(swagger_ui.__file__).parent / "static"
ASSETS_PATH = "/static/api-docs"
ASSET_FILES = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "LICENSE")


class OfflineSwagger(OpenAPIRenderPlugin):
    """Swagger UI at `/schema` and `/schema/swagger`, from local assets."""

    def __init__(self) -> None:
        super().__init__(path=["/", "/swagger"], favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = escape(str(openapi_schema.get("info", {}).get("title", "API")))
        return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} API</title>
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
<script src="{ASSETS_PATH}/swagger-ui-bundle.js" defer></script>
<script src="{ASSETS_PATH}/swagger-ui-standalone-preset.js" defer></script>
<script src="/static/api-docs.js" defer></script>
</head>
<body>
<div id="swagger-ui" data-spec-url="/schema/openapi.json"></div>
<noscript>The interactive documentation needs JavaScript; the OpenAPI document is at
<a href="/schema/openapi.json">/schema/openapi.json</a>.</noscript>
</body>
</html>
""".encode()
