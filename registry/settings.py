"""One typed, frozen settings object, built once from the environment and command-line overrides."""

import os
from pathlib import Path
from typing import Any

import msgspec

ENV_PREFIX = "PROVENANCE_"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    data_dir: Path = Path("./data")
    database_url: str | None = None  # None: SQLite at data_dir/registry.sqlite3; or postgresql://...
    index_dir: Path | None = None  # None: data_dir/indexes; give each replica its own
    follow_interval: float = 2.0  # seconds between polls of the change feed (other replicas, the CLI)
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_bytes: int = 50 * 1024 * 1024
    max_image_pixels: int = 64_000_000
    max_text_chars: int = 5_000_000
    store_check_content: bool = False  # keep every submitted output (by default only its SHA-256)
    keep_matched_outputs: bool = True  # keep outputs that matched a work: the evidence owners and auditors see
    session_secret: str | None = None  # signs web sessions and CSRF tokens; None: data_dir/session.key
    secure_cookies: bool = False  # mark web cookies Secure: set true when served over HTTPS
    session_hours: float = 12.0  # a web sign-in lasts this long
    chain_recheck_seconds: float = 300.0  # the auditors' pages recompute the whole audit chain this often
    rate_limit_per_minute: int = 6000  # requests a minute per API key on each replica; 0: no limit
    text_threshold: float | None = None  # None: the calibrated default shipped with the matcher
    image_threshold: float | None = None
    image_embedder: str = "efficientnet_lite0"  # or "none", or "open_clip:MODEL[:PRETRAINED-OR-FILE]"
    text_index_redis: str | None = None  # None: text index in files; or redis://host:port/db, shared by replicas

    @property
    def indexes(self) -> Path:
        return self.index_dir or self.data_dir / "indexes"

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'registry.sqlite3'}"

    @classmethod
    def load(cls, **overrides: Any) -> "Settings":
        """Defaults, then `PROVENANCE_*` environment variables, then explicit non-None overrides."""
        values: dict[str, Any] = {}
        for field in msgspec.structs.fields(cls):
            env = os.environ.get(ENV_PREFIX + field.name.upper())
            if env is not None:
                values[field.name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return msgspec.convert(values, cls, strict=False, dec_hook=_dec_hook)
        except msgspec.ValidationError as exc:
            raise ValueError(f"bad setting: {exc} (see README, 'Configuration')") from exc


def _dec_hook(type_: type, obj: Any) -> Any:
    if type_ is Path:
        return Path(obj)
    raise NotImplementedError
