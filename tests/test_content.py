"""Bad input is refused with a reason before anything is stored."""

import io
from typing import Any

import pytest
from PIL import Image

from registry.content import kind_from_name, load_content
from registry.errors import ContentTooLarge, UnsupportedContent
from registry.models import WorkKind

LIMITS: dict[str, Any] = {"max_pixels": 40_000_000, "max_text_chars": 1_000_000}


def png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, "PNG")
    return buf.getvalue()


def test_empty_file() -> None:
    with pytest.raises(UnsupportedContent, match="empty"):
        load_content(b"", **LIMITS)


def test_truncated_jpeg(fixture_images: list) -> None:  # type: ignore[type-arg]
    data = fixture_images[0].read_bytes()
    with pytest.raises(UnsupportedContent, match="decoded"):
        load_content(data[: len(data) // 3], **LIMITS)


def test_truncated_png() -> None:
    data = png((300, 200))
    with pytest.raises(UnsupportedContent):
        load_content(data[:60], **LIMITS)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = png((20_000, 20_000), "1")  # a few KB on disk, 400 megapixels
    assert len(bomb) < 200_000
    with pytest.raises(ContentTooLarge, match="pixels"):
        load_content(bomb, **LIMITS)


def test_not_utf8_text() -> None:
    with pytest.raises(UnsupportedContent, match="UTF-8"):
        load_content("café".encode("latin-1") + b" au lait", **LIMITS)


def test_whitespace_only_text() -> None:
    with pytest.raises(UnsupportedContent, match="empty"):
        load_content(b"  \n\t ", **LIMITS)


def test_text_over_limit() -> None:
    with pytest.raises(ContentTooLarge):
        load_content(b"a" * 2_000_000, **LIMITS)


def test_name_that_lies_about_the_content(fixture_images: list) -> None:  # type: ignore[type-arg]
    with pytest.raises(UnsupportedContent, match="named as an image"):
        load_content(b"plain words", kind=kind_from_name("photo.jpg"), **LIMITS)
    with pytest.raises(UnsupportedContent, match="named as text"):
        load_content(fixture_images[0].read_bytes(), kind=kind_from_name("notes.txt"), **LIMITS)


def test_animated_gif_is_refused() -> None:
    frames = [Image.new("RGB", (40, 40), c) for c in ("red", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(UnsupportedContent, match="frames"):
        load_content(buf.getvalue(), **LIMITS)


@pytest.mark.parametrize("mode", ["CMYK", "I;16", "L", "P", "RGBA"])
def test_other_colour_modes_become_rgb(mode: str) -> None:
    img = Image.new(mode, (64, 48))
    buf = io.BytesIO()
    img.save(buf, "TIFF" if mode == "CMYK" else "PNG")
    content = load_content(buf.getvalue(), **LIMITS)
    assert content.kind is WorkKind.IMAGE and content.image.mode == "RGB" and content.image.size == (64, 48)


def test_text_starting_like_a_bitmap_is_text() -> None:
    assert load_content(b"BMW builds cars in Munich.", **LIMITS).kind is WorkKind.TEXT


@pytest.mark.parametrize(("data", "seen"), [
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "PDF"),
    (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40, "ZIP"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
    (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2", "MP4"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb" * 20, "MP3"),
    (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG"),
    (b"\xff\xfeh\x00e\x00l\x00l\x00o\x00", "UTF-16"),
    (b"\x01\x02\x03\x00\x00\x05binary", "unrecognised binary data"),
])
def test_unsupported_formats_are_named_with_the_formats_accepted(data: bytes, seen: str) -> None:
    with pytest.raises(UnsupportedContent) as caught:
        load_content(data, **LIMITS)
    message = caught.value.message
    assert seen in message and "is not supported; send JPEG, PNG, WebP, GIF, BMP, TIFF or UTF-8 text" in message
    assert caught.value.details["accepted"] == ["JPEG", "PNG", "WebP", "GIF", "BMP", "TIFF", "UTF-8 text"]


def test_a_pdf_named_as_an_image_is_still_called_a_pdf() -> None:
    with pytest.raises(UnsupportedContent, match=r"^PDF is not supported"):
        load_content(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", kind=kind_from_name("scan.jpg"), **LIMITS)
