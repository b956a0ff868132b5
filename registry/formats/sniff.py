"""Names of common formats that no decoder accepts, recognised by their first bytes.

So that a PDF is refused as "PDF is not supported; send ..." rather than decoded as something it is not.
"""

_PREFIXES: list[tuple[bytes, str]] = [
    (b"%PDF-", "PDF"),
    (b"PK\x03\x04", "a ZIP archive (ZIP, DOCX, XLSX, EPUB, ...)"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"ID3\x03", "MP3 audio"),
    (b"ID3\x04", "MP3 audio"),
    (b"OggS", "Ogg audio or video"),
    (b"fLaC", "FLAC audio"),
    (b"\x1a\x45\xdf\xa3", "Matroska or WebM video"),
    (b"8BPS", "a Photoshop document (PSD)"),
    (b"\x00\x00\x01\x00", "an icon (ICO)"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\x7fELF", "an executable (ELF)"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x00asm", "WebAssembly"),
    (b"{\\rtf", "RTF"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office document (DOC, XLS, PPT)"),
    (b"\xff\xfe", "UTF-16 text (convert it to UTF-8)"),
    (b"\xfe\xff", "UTF-16 text (convert it to UTF-8)"),
]

_FTYP = {b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF", b"avis": "AVIF",
         b"qt  ": "QuickTime video", b"M4A ": "M4A audio"}


def describe(data: bytes) -> str | None:
    """The name of the unsupported format `data` starts like, or None when it is none of them."""
    head = data[:64]
    for prefix, name in _PREFIXES:
        if head.startswith(prefix):
            return name
    if head[4:8] == b"ftyp":
        return _FTYP.get(head[8:12], "MP4 video")
    if head[:4] == b"RIFF" and head[8:12] in (b"WAVE", b"AVI "):
        return "WAV audio" if head[8:12] == b"WAVE" else "AVI video"
    if head[:2] in (b"\xff\xfb", b"\xff\xf3"):
        return "MP3 audio"
    if head[:2] == b"MZ" and b"This program cannot be run in DOS mode" in data[:256]:
        return "a Windows executable"
    text_head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text_head.startswith(b"<svg") or (text_head.startswith(b"<?xml") and b"<svg" in text_head):
        return "SVG (rasterise it to PNG first)"
    return None
