"""Where a shared text index keeps what its LSH tables do not: each work's signatures, its sampled long
shingles, and the document frequency of those shingles (for boilerplate), in Redis so that every API replica
reads and writes one index (next to datasketch's Redis LSH). The in-memory index is `compact.py`."""

from typing import Any

import numpy as np
import numpy.typing as npt
from datasketch import LeanMinHash

Sampled = npt.NDArray[np.uint32]


def pack(sigs: list[LeanMinHash]) -> bytes:
    """Signatures of one work, back to back, in datasketch's own `LeanMinHash.serialize` format."""
    out = bytearray()
    for sig in sigs:
        buf = bytearray(sig.bytesize())
        sig.serialize(buf)
        out += buf
    return bytes(out)


def unpack(data: bytes, size: int) -> list[LeanMinHash]:
    return [LeanMinHash.deserialize(data[i : i + size]) for i in range(0, len(data), size)]


class RedisTextState:
    """The same state in Redis hashes under `prefix`: signatures, sampled shingles, document frequency."""

    def __init__(self, client: Any, prefix: str, signature_size: int) -> None:
        self.r = client
        self.size = signature_size
        self.k_sig, self.k_sampled, self.k_df = f"{prefix}:sig", f"{prefix}:sampled", f"{prefix}:df"

    def add(self, work_id: str, sigs: list[LeanMinHash], sampled: Sampled) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.k_sig, work_id, pack(sigs))
        pipe.hset(self.k_sampled, work_id, sampled.astype("<u4").tobytes())
        for h in sampled.tolist():
            pipe.hincrby(self.k_df, str(h), 1)
        pipe.execute()

    def remove(self, work_id: str) -> tuple[int, Sampled] | None:
        packed, raw = self.r.hmget(self.k_sig, work_id), self.r.hget(self.k_sampled, work_id)
        if packed[0] is None or raw is None:
            return None
        sampled = np.frombuffer(raw, dtype="<u4").astype(np.uint32)
        pipe = self.r.pipeline(transaction=True)
        pipe.hdel(self.k_sig, work_id)
        pipe.hdel(self.k_sampled, work_id)
        for h in sampled.tolist():
            pipe.hincrby(self.k_df, str(h), -1)
        pipe.execute()
        return len(packed[0]) // self.size, sampled

    def signatures(self, work_ids: list[str]) -> dict[str, list[LeanMinHash]]:
        if not work_ids:
            return {}
        values = self.r.hmget(self.k_sig, work_ids)
        return {w: unpack(v, self.size) for w, v in zip(work_ids, values, strict=True) if v is not None}

    def df(self, hashes: list[int]) -> list[int]:
        if not hashes:
            return []
        return [int(v or 0) for v in self.r.hmget(self.k_df, [str(h) for h in hashes])]

    def work_ids(self) -> set[str]:
        return {k.decode() for k in self.r.hkeys(self.k_sig)}

    def __contains__(self, work_id: object) -> bool:
        return bool(self.r.hexists(self.k_sig, str(work_id)))

    def __len__(self) -> int:
        return int(self.r.hlen(self.k_sig))

    def clear(self) -> None:
        self.r.delete(self.k_sig, self.k_sampled, self.k_df)
