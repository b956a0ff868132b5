"""The kernel's and the stores' settings: where the registry keeps its data, and the limits on content.

Each layer declares its own group of settings; `api.settings.Settings` composes them into the one typed,
frozen object that is built once from the environment and passed down.
"""

from pathlib import Path

import msgspec


class StoreSettings(msgspec.Struct, frozen=True, kw_only=True):
    data_dir: Path = Path("./data")
    database_url: str | None = None  # None: SQLite at data_dir/registry.sqlite3; or postgresql://...

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'registry.sqlite3'}"


class ContentLimits(msgspec.Struct, frozen=True, kw_only=True):
    max_upload_bytes: int = 50 * 1024 * 1024
    max_image_pixels: int = 64_000_000
    max_text_chars: int = 5_000_000
