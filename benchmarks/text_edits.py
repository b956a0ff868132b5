"""Synthetic text queries: excerpts, word-level edits, excerpts inside new text, light whole-text edits."""

import random
import re


def excerpt(words: list[str], n: int, rng: random.Random) -> list[str]:
    start = rng.randrange(max(1, len(words) - n))
    return words[start : start + n]


def edit_words(words: list[str], rate: float, rng: random.Random, vocabulary: list[str]) -> list[str]:
    """Substitute, delete or insert a word at `rate` of the positions (a third each)."""
    out: list[str] = []
    for w in words:
        r = rng.random()
        if r < rate / 3:
            out.append(rng.choice(vocabulary))
        elif r < 2 * rate / 3:
            continue
        elif r < rate:
            out.extend([w, rng.choice(vocabulary)])
        else:
            out.append(w)
    return out


def embed(copied: list[str], filler: list[str], share: float, rng: random.Random) -> list[str]:
    """`copied` inside unrelated `filler` words so that it makes up `share` of the result."""
    total = round(len(copied) / share)
    before = rng.randrange(max(1, total - len(copied)))
    new = filler[: total - len(copied)]
    return new[:before] + copied + new[before:]


def light_edit(text: str, rng: random.Random) -> str:
    """Case, punctuation and white space changes over the whole text."""
    text = text.upper() if rng.random() < 0.5 else text.lower()
    text = re.sub(r"[,;:]", "", text)
    text = re.sub(r"\.\s", " . ", text)
    return re.sub(r"\s+", "  ", text)
