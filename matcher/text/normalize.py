"""Tokenize text into normalized words that keep their character offsets in the original.

Each word (a run of Unicode word characters) is normalized on its own, so every token still points at its
exact place in the text a person will read, and so that the tricks an evader uses on a copy change nothing:

* invisible characters inside words are ignored: Unicode format characters (category Cf: zero-width space
  and joiners, soft hyphen, word joiner, bidirectional controls, BOM), the combining grapheme joiner and
  variation selectors;
* compatibility forms (ligatures, full-width letters) are unified by NFKC, and case by case folding;
* letters of other scripts that look like ASCII letters (Cyrillic small a, U+0430, for Latin "a"; Greek omicron for "o")
  are folded to them, after Unicode TR39's confusables (the data of the maintained `confusable-homoglyphs`
  package, which ships Unicode's confusables.txt), and mathematical or full-width letters by NFKC;
* Chinese and Japanese, written without spaces, are tokenized by character (Han, Hiragana, Katakana), so a
  copied excerpt of a hundred characters is a hundred tokens rather than a few clause-long "words".
"""

import json
import re
import unicodedata
import zlib
from functools import cache, lru_cache
from importlib import resources

import numpy as np
import numpy.typing as npt


def _ignorable() -> str:
    """Every format character (Cf), the combining grapheme joiner and the variation selectors."""
    planes = [*range(0x20000), *range(0xE0000, 0xE1000)]  # every Cf character lies in planes 0, 1 and 14
    chars = [chr(c) for c in planes if unicodedata.category(chr(c)) == "Cf"]
    chars += ["\u034f", *map(chr, range(0xFE00, 0xFE10)), *map(chr, range(0xE0100, 0xE01F0))]
    return "".join(chars)


IGNORABLE = _ignorable()
_IGNORE_CLASS = "".join(f"\\U{ord(c):08x}" for c in IGNORABLE)
_CJK = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
# a CJK character alone, or a run of other word characters that may hold ignorable ones (not at its start)
_TOKEN = re.compile(f"[{_CJK}]|[^\\W{_CJK}](?:[^\\W{_CJK}]|[{_IGNORE_CLASS}])*")
_STRIP = {ord(c): None for c in IGNORABLE}


@cache
def _skeleton_map() -> dict[int, str]:
    """Each non-ASCII letter that Unicode's confusables list as looking like an ASCII letter or digit, to that
    character, lower-cased (Cyrillic U+0430 and U+0410 to "a", Greek omicron to "o"; a letter before a digit).
    One step, never a chain: chaining look-alikes would merge unrelated letters ("t" with "r")."""
    import confusable_homoglyphs

    raw = resources.files(confusable_homoglyphs).joinpath("confusables.json").read_text(encoding="utf-8")
    data: dict[str, list[dict[str, str]]] = json.loads(raw)
    table: dict[int, str] = {}
    for char, alikes in data.items():
        if len(char) != 1 or char.isascii():
            continue
        ascii_alikes = {a["c"].casefold() for a in alikes if len(a["c"]) == 1 and a["c"].isascii()
                        and a["c"].isalnum()}
        if ascii_alikes:
            letters = sorted(c for c in ascii_alikes if c.isalpha())
            table[ord(char)] = letters[0] if letters else min(ascii_alikes)
    for code, target in list(table.items()):  # the other case of a mapped letter maps the same way
        for cased in {chr(code).casefold(), chr(code).lower(), chr(code).upper()}:
            if len(cased) == 1 and not cased.isascii():
                table.setdefault(ord(cased), target)
    return table


def skeleton(word: str) -> str:
    """`word` without ignorable characters, NFKC-normalized, case-folded and folded to its confusable skeleton."""
    table = _skeleton_map()
    folded = unicodedata.normalize("NFKC", word.translate(_STRIP)).casefold().translate(table)
    return unicodedata.normalize("NFKC", folded).casefold().translate(table)


class Tokens:
    """Normalized words of a text: 32-bit word ids and each word's (start, end) character offsets."""

    __slots__ = ("ends", "ids", "starts")

    def __init__(self, ids: npt.NDArray[np.uint32], starts: npt.NDArray[np.int64],
                 ends: npt.NDArray[np.int64]) -> None:
        self.ids = ids
        self.starts = starts
        self.ends = ends

    def __len__(self) -> int:
        return len(self.ids)


@lru_cache(maxsize=200_000)
def _word_id(word: str) -> int:
    return zlib.crc32(skeleton(word).encode("utf-8"))


_ASCII_TOKEN = re.compile(r"\w+", re.ASCII)  # what _TOKEN finds in a text of ASCII characters only


def tokenize(text: str) -> Tokens:
    """The text's tokens. ASCII text (no CJK, no ignorable or look-alike characters possible) takes a plain
    word pattern, with the same tokens and ids as the general one."""
    pattern = _ASCII_TOKEN if text.isascii() else _TOKEN
    matches = list(pattern.finditer(text))
    spans = np.array([m.span() for m in matches], dtype=np.int64).reshape(len(matches), 2)
    ids = np.array([_word_id(m.group()) for m in matches], dtype=np.uint32)
    return Tokens(ids, spans[:, 0].copy(), spans[:, 1].copy())


def word_ids(text: str) -> npt.NDArray[np.uint32]:
    """`tokenize(text).ids` without the offsets (all that a fingerprint needs), in about half the time."""
    if text.isascii():
        words: list[str] = _ASCII_TOKEN.findall(text)
    else:
        words = [m.group() for m in _TOKEN.finditer(text)]
    return np.fromiter(map(_word_id, words), dtype=np.uint32, count=len(words))
