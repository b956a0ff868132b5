"""A content-addressed blob store: originals kept by SHA-256 so fingerprints can always be recomputed."""

import hashlib
import os
import tempfile
from pathlib import Path

from registry.errors import NotFound


class BlobStore:
    """Files under `root/ab/cd/<sha256>`; writes are atomic (temp file, fsync, rename) and idempotent."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: str) -> bytes:
        path = self._path(digest)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in {self.root}; restore the data directory") from None

    def exists(self, digest: str) -> bool:
        return self._path(digest).exists()
