"""Plain text in UTF-8: recognised as bytes without NUL, decoded strictly, bounded in length."""

from registry.content import Content
from registry.errors import ContentTooLarge, UnsupportedContent
from registry.models import WorkKind
from registry.settings import ContentLimits


def decode_text(data: bytes, max_chars: int) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnsupportedContent(
            f"text is not valid UTF-8 (byte {exc.start}: {data[exc.start:exc.start + 1]!r}); "
            "convert it to UTF-8 first") from None
    if "\x00" in text:
        raise UnsupportedContent("text contains NUL characters: it looks like a binary file")
    if len(text) > max_chars:
        raise ContentTooLarge(f"text has {len(text)} characters, over the limit of {max_chars}")
    if not text.strip():
        raise UnsupportedContent("text is empty or only white space")
    return text


class TextDecoder:
    kind: WorkKind = WorkKind.TEXT
    formats: tuple[str, ...] = ("UTF-8 text",)
    suffixes: frozenset[str] = frozenset({".txt", ".text", ".md", ".rst", ".csv", ".json", ".html", ".htm", ".xml"})

    def recognises(self, data: bytes) -> bool:
        """Text has no NUL bytes; whether it is valid UTF-8 is `decode`'s to say (with the offending byte)."""
        return b"\x00" not in data[:65536]

    def decode(self, data: bytes, limits: ContentLimits) -> Content:
        text = decode_text(data, limits.max_text_chars)
        return Content(data, WorkKind.TEXT, "text/plain; charset=utf-8", text=text)
