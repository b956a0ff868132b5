"""The one settings object: each layer's group (store, limits, matching, service, server, web), built once.

Every leaf setting is read from `PROVENANCE_<NAME>` (for example `PROVENANCE_PORT`, `PROVENANCE_DATA_DIR`)
and can be overridden by name in `Settings.load(port=..., data_dir=...)`; leaf names are unique across
groups, so the environment stays flat while the code sees groups.
"""

import os
from pathlib import Path
from typing import Any

import msgspec

from service.settings import ServiceSettings

ENV_PREFIX = "PROVENANCE_"


class ServerSettings(msgspec.Struct, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8000
    rate_limit_per_minute: int = 6000  # requests a minute per API key on each replica; 0: no limit
    public_rate_limit_per_minute: int = 1200  # keyless requests a minute per client address (matching counts 10)
    max_batch_bytes: int = 100 * 1024 * 1024  # a request carrying many files (bulk enrollment, the web form)
    rate_limit_redis: str | None = None  # redis://host:port/db: rate limits and sign-in throttling shared by replicas
    max_index_lag_changes: int = 1000  # readiness turns 503 when more changes than this await the indexes
    max_index_lag_seconds: float = 120.0  # ... or when the oldest of them is older than this
    log_level: str = "info"
    max_failed_signins: int = 20  # failed sign-ins and unknown keys per client address in 5 minutes; 0: no limit


class WebSettings(msgspec.Struct, frozen=True, kw_only=True):
    session_secret: str | None = None  # signs web sessions and CSRF tokens; None: data_dir/session.key
    secure_cookies: bool = False  # mark web cookies Secure: set true when served over HTTPS
    session_hours: float = 12.0  # a web sign-in lasts this long
    chain_recheck_seconds: float = 300.0  # the auditors' pages recompute the whole audit chain this often


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    service: ServiceSettings = msgspec.field(default_factory=ServiceSettings)
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    web: WebSettings = msgspec.field(default_factory=WebSettings)

    @property
    def data_dir(self) -> Path:
        return self.service.storage.data_dir

    @classmethod
    def load(cls, **overrides: Any) -> "Settings":
        """Defaults, then `PROVENANCE_*` environment variables, then explicit non-None overrides by leaf name."""
        known = set(leaf_names(cls))
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
        leaves: dict[str, Any] = {}
        for name in known:
            env = os.environ.get(ENV_PREFIX + name.upper())
            if env is not None:
                leaves[name] = env
        leaves.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return msgspec.convert(_nest(cls, leaves), cls, strict=False, dec_hook=_dec_hook)
        except msgspec.ValidationError as exc:
            raise ValueError(f"bad setting: {exc} (see README, 'Configuration')") from exc


def _is_group(type_: Any) -> bool:
    return isinstance(type_, type) and issubclass(type_, msgspec.Struct)


def leaf_names(cls: type[msgspec.Struct]) -> list[str]:
    names: list[str] = []
    for field in msgspec.structs.fields(cls):
        names.extend(leaf_names(field.type) if _is_group(field.type) else [field.name])
    return names


def _nest(cls: type[msgspec.Struct], leaves: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in msgspec.structs.fields(cls):
        if _is_group(field.type):
            out[field.name] = _nest(field.type, leaves)
        elif field.name in leaves:
            out[field.name] = leaves[field.name]
    return out


def _dec_hook(type_: type, obj: Any) -> Any:
    if type_ is Path:
        return Path(obj)
    raise NotImplementedError
