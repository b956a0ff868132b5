"""Synthetic edits that a generator or a re-poster applies to an image, seeded and reproducible.

MILD edits keep the whole picture; HARD ones crop, rotate slightly, pad, cover or re-frame it.
"""

import io
import random
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

Edit = Callable[[Image.Image, random.Random, Image.Image], Image.Image]


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def resize50(img: Image.Image, rng: random.Random, other: Image.Image) -> Image.Image:
    return img.resize((max(1, img.width // 2), max(1, img.height // 2)), Image.Resampling.BILINEAR)


def jpeg30(img: Image.Image, rng: random.Random, other: Image.Image) -> Image.Image:
    return _jpeg(img, 30)


def grayscale(img: Image.Image, rng: random.Random, other: Image.Image) -> Image.Image:
    return img.convert("L").convert("RGB")


def blur(img: Image.Image, rng: random.Random, other: Image.Image) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(radius=max(1.0, max(img.size) / 400)))


def brightness(img: Image.Image, rng: random.Random, other: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(img).enhance(rng.choice([0.7, 1.3]))


def contrast(img: Image.Image, rng: random.Random, other: Image.Image) -> Image.Image:
    return ImageEnhance.Contrast(img).enhance(rng.choice([0.6, 1.4]))


def saturation(img: Image.Image, rng: random.Random, other: Image.Image) -> Image.Image:
    return ImageEnhance.Color(img).enhance(rng.choice([0.4, 1.6]))


def mirror(img: Image.Image, rng: random.Random, other: Image.Image) -> Image.Image:
    return ImageOps.mirror(img)


def rotate90(img: Image.Image, rng: random.Random, other: Image.Image) -> Image.Image:
    return img.transpose(rng.choice([Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270]))


def rotate_small(img: Image.Image, rng: random.Random, other: Image.Image) -> Image.Image:
    angle = rng.uniform(3, 10) * rng.choice([-1, 1])
    return img.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False)


def center_crop70(img: Image.Image, rng: random.Random, other: Image.Image) -> Image.Image:
    s = 0.70 ** 0.5
    w, h = img.size
    cw, ch = round(w * s), round(h * s)
    return img.crop(((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch))


def random_crop_half(img: Image.Image, rng: random.Random, other: Image.Image) -> Image.Image:
    w, h = img.size
    if rng.random() < 0.5:
        cw, ch = round(w * 0.5), h
    else:
        s = 0.5 ** 0.5
        cw, ch = round(w * s), round(h * s)
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return img.crop((x, y, x + cw, y + ch))


def pad(img: Image.Image, rng: random.Random, other: Image.Image) -> Image.Image:
    border = round(max(img.size) * rng.uniform(0.08, 0.2))
    color = rng.choice([(0, 0, 0), (255, 255, 255), (128, 128, 128)])
    return ImageOps.expand(img, border=border, fill=color)


def overlay(img: Image.Image, rng: random.Random, other: Image.Image) -> Image.Image:
    out = img.copy()
    draw = ImageDraw.Draw(out)
    w, h = out.size
    bw, bh = round(w * rng.uniform(0.3, 0.5)), round(h * rng.uniform(0.12, 0.25))
    x, y = rng.randint(0, w - bw), rng.randint(0, h - bh)
    draw.rectangle((x, y, x + bw, y + bh), fill=(rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255)))
    draw.text((x + 8, y + 8), "GENERATED WITH AI  @example", fill=(255, 255, 255))
    return out


def canvas(img: Image.Image, rng: random.Random, other: Image.Image) -> Image.Image:
    """The image scaled to 40-60% of the width of an unrelated picture and pasted into it."""
    base = other.convert("RGB").resize((1024, round(1024 * other.height / other.width)))
    scale = rng.uniform(0.4, 0.6) * base.width / img.width
    small = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
    if small.height > base.height:
        small = small.resize((round(small.width * base.height / small.height * 0.9), round(base.height * 0.9)))
    x, y = rng.randint(0, base.width - small.width), rng.randint(0, base.height - small.height)
    base.paste(small, (x, y))
    return base


MILD: dict[str, Edit] = {
    "resize50": resize50, "jpeg30": jpeg30, "grayscale": grayscale, "blur": blur, "brightness": brightness,
    "contrast": contrast, "saturation": saturation, "mirror": mirror, "rotate90": rotate90,
}
HARD: dict[str, Edit] = {
    "rotate_small": rotate_small, "center_crop70": center_crop70, "random_crop_half": random_crop_half,
    "pad": pad, "overlay": overlay, "canvas": canvas,
}
ALL: dict[str, Edit] = {**MILD, **HARD}


BLANK_SHARE = 0.99  # an edited picture with this share of its pixels at one value holds nothing to match


def blank(img: Image.Image) -> bool:
    """Whether an edit left no picture: `BLANK_SHARE` of the pixels at one grey value (a near-white paper
    brightened by 30% is pure white but for a few specks). No matcher can name the work such a query came
    from, so benchmarks report these queries apart instead of counting them as misses."""
    counts = img.convert("L").histogram()
    return max(counts) >= BLANK_SHARE * sum(counts)


def encode(img: Image.Image, fmt: str = "JPEG") -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, fmt, quality=92) if fmt == "JPEG" else img.save(buf, fmt)
    return buf.getvalue()
