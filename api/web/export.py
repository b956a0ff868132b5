"""A check history as CSV or NDJSON, in chunks of about 64 KB (the rows come from `Registry.iter_checks`)."""

import csv
import io
from collections.abc import Iterator

import msgspec

from api.schemas import CheckOut
from registry.models import Check

CSV_COLUMNS = ["check_id", "created_at", "operator", "purpose", "kind", "verdict", "sha256", "matched_work_ids",
               "matched_titles", "matched_owners", "requirements", "top_score", "matcher_version"]


_CHUNK = 64 * 1024  # bytes sent at a time: one chunk a row would cost more in the server than the rows


def csv_lines(checks: Iterator[Check], names: dict[str, str]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def take() -> str:
        out = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return out

    writer.writerow(CSV_COLUMNS)
    for c in checks:
        writer.writerow(_cell(str(value)) for value in [
            c.id, c.created_at.isoformat(), names.get(c.account_id, c.account_id), c.purpose, c.kind.value,
            c.verdict.value, c.sha256, " ".join(m.work_id for m in c.matches),
            " | ".join(m.title for m in c.matches),
            " ".join(names.get(m.owner_id, m.owner_id) for m in c.matches),
            " ".join(m.requirement for m in c.matches),
            max((m.score for m in c.matches), default=""), c.matcher_version])
        if buffer.tell() >= _CHUNK:
            yield take()
    yield take()


def _cell(value: str) -> str:
    """Defuse spreadsheet formulas: a cell (a title, an account name) starting with = + - @ is shown as text,
    not evaluated."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def ndjson_lines(checks: Iterator[Check], names: dict[str, str]) -> Iterator[bytes]:
    chunk = bytearray()
    for c in checks:
        chunk += msgspec.json.encode(CheckOut.of(c, names)) + b"\n"
        if len(chunk) >= _CHUNK:
            yield bytes(chunk)
            chunk.clear()
    if chunk:
        yield bytes(chunk)
