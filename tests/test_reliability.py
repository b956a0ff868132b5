"""Bad input of every kind through the API, random input (hypothesis), and the per-key rate limit."""

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from PIL import Image

from api.app import create_app
from api.settings import Settings
from registry.models import Role
from service.registry import Registry
from service.wiring import open_registry
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Registry, dict[str, str]]]:  # type: ignore[type-arg]
    data = tmp_path_factory.mktemp("reliability")
    cfg = Settings.load(data_dir=data, image_embedder="none", max_upload_bytes=3_000_000, max_image_pixels=30_000_000,
                        max_text_chars=1_000_000, rate_limit_per_minute=0)
    registry = open_registry(cfg.service)
    keys = {role: registry.create_key(role, Role(role))[1] for role in ("creator", "operator")}
    with TestClient(create_app(cfg, registry)) as client:
        yield client, registry, keys
    registry.close()


def image_bytes(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_every_kind_of_bad_file_is_refused_and_leaves_nothing(api: tuple) -> None:  # type: ignore[type-arg]
    client, registry, keys = api
    auth = {"Authorization": f"Bearer {keys['creator']}"}
    jpeg = (FIXTURES / "images" / "coffee.jpg").read_bytes()
    png = image_bytes(Image.open(FIXTURES / "images" / "coffee.jpg"), "PNG")
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "green")]
    cases = {
        "zero bytes": ("a.txt", b"", 415),
        "truncated JPEG": ("a.jpg", jpeg[: len(jpeg) // 2], 415),
        "truncated PNG": ("a.png", png[: len(png) // 2], 415),
        "text named .png": ("a.png", b"these are words, not pixels", 415),
        "image named .txt": ("a.txt", jpeg, 415),
        "decompression bomb": ("bomb.png", image_bytes(Image.new("1", (20_000, 20_000)), "PNG"), 413),
        "animated GIF": ("a.gif", image_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:]), 415),
        "multi-page TIFF": ("a.tif", image_bytes(frames[0], "TIFF", save_all=True, append_images=frames[1:]), 415),
        "not UTF-8": ("a.txt", "d\xe9j\xe0 vu".encode("cp1252"), 415),
        "text over the length limit": ("big.txt", b"word " * 250_000, 413),
        "over the upload limit": ("huge.txt", b"x" * 3_100_000, 413),
    }
    for name, (filename, data, status) in cases.items():
        r = client.post("/v1/works", files={"file": (filename, data, "image/png")}, headers=auth)
        assert r.status_code == status, f"{name}: {r.status_code} {r.text}"
        assert r.json()["error"]["message"], name
    assert registry.store.list_works() == []
    assert not [p for p in (registry.settings.data_dir / "blobs").rglob("*") if p.is_file()]


def test_cmyk_and_16_bit_images_are_enrolled(api: tuple) -> None:  # type: ignore[type-arg]
    client, _, keys = api
    auth = {"Authorization": f"Bearer {keys['creator']}"}
    base = Image.open(FIXTURES / "images" / "badlands0.jpg")
    cmyk = image_bytes(base.convert("CMYK"), "JPEG")
    sixteen = image_bytes(base.convert("L").point(lambda v: v * 256).convert("I;16"), "PNG")
    for name, data in (("cmyk.jpg", cmyk), ("sixteen.png", sixteen)):
        r = client.post("/v1/works", files={"file": (name, data)}, headers=auth)
        assert r.status_code == 201, f"{name}: {r.text}"


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=4096), name=st.sampled_from(["x.txt", "x.jpg", "x.png", "x", "x.gif"]),
       metadata=st.one_of(st.none(), st.text(max_size=200),
                          st.dictionaries(st.sampled_from(["title", "license", "opt_outs", "colour"]),
                                          st.one_of(st.integers(), st.text(max_size=20), st.none(),
                                                    st.dictionaries(st.text(max_size=8), st.integers(),
                                                                    max_size=3)), max_size=4).map(json.dumps)))
def test_random_enrollments_never_get_a_server_error(api: tuple, data: bytes, name: str,  # type: ignore[type-arg]
                                                     metadata: str | None) -> None:
    client, _, keys = api
    form = {"metadata": metadata} if metadata is not None else None
    r = client.post("/v1/works", files={"file": (name, data)}, data=form,
                    headers={"Authorization": f"Bearer {keys['creator']}"})
    assert r.status_code < 500, r.text
    assert r.status_code in (201, 400, 409, 413, 415), r.text


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=4096), purpose=st.text(max_size=30), text=st.text(max_size=300))
def test_random_checks_never_get_a_server_error(api: tuple, data: bytes, purpose: str,  # type: ignore[type-arg]
                                                text: str) -> None:
    client, _, keys = api
    auth = {"Authorization": f"Bearer {keys['operator']}"}
    r = client.post("/v1/checks", files={"file": ("q", data)}, data={"purpose": purpose}, headers=auth)
    assert r.status_code < 500 and r.status_code in (200, 400, 413, 415), r.text
    r = client.post("/v1/checks", json={"text": text, "purpose": purpose}, headers=auth)
    assert r.status_code < 500 and r.status_code in (200, 400, 413, 415), r.text


def test_rate_limit_per_key(tmp_path: Path) -> None:
    cfg = Settings.load(data_dir=tmp_path, image_embedder="none", rate_limit_per_minute=3)
    registry = open_registry(cfg.service)
    a, b = registry.create_key("a", Role.AUDITOR)[1], registry.create_key("b", Role.AUDITOR)[1]
    with TestClient(create_app(cfg, registry)) as client:
        statuses = [client.get("/v1/works", headers={"Authorization": f"Bearer {a}"}).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        r = client.get("/v1/works", headers={"Authorization": f"Bearer {a}"})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert r.json()["error"]["code"] == "too_many_requests"
        assert client.get("/v1/works", headers={"Authorization": f"Bearer {b}"}).status_code == 200
    registry.close()


def test_a_50_mb_text_is_refused_with_413(tmp_path: Path) -> None:
    cfg = Settings.load(data_dir=tmp_path, image_embedder="none")  # the default limits
    registry = open_registry(cfg.service)
    key = registry.create_key("c", Role.CREATOR)[1]
    with TestClient(create_app(cfg, registry)) as client:
        r = client.post("/v1/works", files={"file": ("big.txt", b"lorem ipsum " * (50 * 2**20 // 12))},
                        headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 413 and "limit" in r.json()["error"]["message"]
    assert registry.store.list_works() == []
    registry.close()
