"""Tokenize text into normalized words that keep their character offsets in the original.

Each word (a run of Unicode word characters) is normalized on its own with NFKC and case folding, so
case, punctuation, white space and compatibility forms (ligatures, full-width letters) do not matter,
and every token still points at its exact place in the text a person will read.
"""

import re
import unicodedata
import zlib
from functools import lru_cache

import numpy as np
import numpy.typing as npt

_WORD = re.compile(r"\w+")


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
    norm = unicodedata.normalize("NFKC", word).casefold()
    return zlib.crc32(norm.encode("utf-8"))


def tokenize(text: str) -> Tokens:
    matches = list(_WORD.finditer(text))
    ids = np.fromiter((_word_id(m.group()) for m in matches), dtype=np.uint32, count=len(matches))
    starts = np.fromiter((m.start() for m in matches), dtype=np.int64, count=len(matches))
    ends = np.fromiter((m.end() for m in matches), dtype=np.int64, count=len(matches))
    return Tokens(ids, starts, ends)
