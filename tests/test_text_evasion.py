"""A verbatim copy stays a copy whatever invisible or look-alike characters are put into it, and Chinese and
Japanese excerpts match as well as English ones."""

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.settings import Settings
from registry.models import Account, Role
from registry.terms import OptOuts, TdmChoice
from service.registry import Registry
from service.wiring import open_registry
from tests.conftest import FIXTURES

WORK = (FIXTURES / "texts" / "emma-ch001.txt").read_text()
OTHER = (FIXTURES / "texts" / "persuasion-ch003.txt").read_text()
COPY = " ".join(WORK.split()[200:350])  # 150 words


def _inside_words(text: str, mark: str) -> str:
    """`mark` put inside every word of three letters or more."""
    return " ".join(w[:2] + mark + w[2:] if len(w) > 2 else w for w in text.split(" "))


# Cyrillic letters that look like Latin ones
CYRILLIC = str.maketrans({"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441",
                          "x": "\u0445", "y": "\u0443", "i": "\u0456", "A": "\u0410", "E": "\u0415",
                          "O": "\u041e", "P": "\u0420", "C": "\u0421", "T": "\u0422", "H": "\u041d"})
TRICKS = {
    "zero-width space": _inside_words(COPY, "\u200b"),
    "zero-width joiner": _inside_words(COPY, "\u200d"),
    "zero-width non-joiner": _inside_words(COPY, "\u200c"),
    "soft hyphen": _inside_words(COPY, "\u00ad"),
    "word joiner": _inside_words(COPY, "\u2060"),
    "combining grapheme joiner": _inside_words(COPY, "\u034f"),
    "bidi controls": _inside_words(COPY, "\u202e\u202c"),
    "BOM inside words": _inside_words(COPY, "\ufeff"),
    "Cyrillic look-alikes": COPY.translate(CYRILLIC),
    "full-width letters": "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in COPY),
    "everything at once": _inside_words(COPY.translate(CYRILLIC), "\u200b\u00ad"),
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Account]]:
    data = tmp_path_factory.mktemp("evasion") / "data"
    reg = open_registry(Settings.load(data_dir=data, image_embedder="none").service)
    alice = reg.ensure_account("alice", Role.CREATOR)
    reserved = OptOuts(ai_training=TdmChoice(use="notAllowed"))
    reg.enroll(alice, WORK.encode(), title="Emma", opt_outs=reserved)
    reg.enroll(alice, OTHER.encode(), title="Persuasion", opt_outs=reserved)
    yield reg, reg.ensure_account("op", Role.OPERATOR)
    reg.close()


def test_the_plain_copy_is_blocked(registry: tuple[Registry, Account]) -> None:
    reg, op = registry
    assert reg.check(op, COPY.encode(), "ai_training").verdict == "blocked"


@pytest.mark.parametrize("trick", list(TRICKS))
def test_a_disguised_copy_is_still_blocked(registry: tuple[Registry, Account], trick: str) -> None:
    reg, op = registry
    disguised = TRICKS[trick]
    assert disguised != COPY
    check = reg.check(op, disguised.encode(), "ai_training")
    assert check.verdict == "blocked", trick
    assert [m.title for m in check.matches] == ["Emma"]


def _cjk_text(seed: int, chars: str, length: int) -> str:
    rng = random.Random(seed)
    out = []
    for i in range(length):
        out.append(rng.choice(chars))
        if i % 17 == 16:
            out.append(rng.choice(PUNCTUATION))
    return "".join(out)


HAN = "".join(map(chr, range(0x4E00, 0x4E00 + 600)))  # CJK unified ideographs
KANA = "".join(map(chr, [*range(0x3041, 0x3094), *range(0x30A1, 0x30F4)]))  # Hiragana and Katakana
PUNCTUATION = "\uff0c\u3002\u3001\uff1b"  # full-width comma, full stop, enumeration comma, semicolon


def test_chinese_and_japanese_excerpts_of_a_hundred_characters_match(tmp_path: Path) -> None:
    reg = open_registry(Settings.load(data_dir=tmp_path / "data", image_embedder="none").service)
    alice = reg.ensure_account("alice", Role.CREATOR)
    op = reg.ensure_account("op", Role.OPERATOR)
    chinese = _cjk_text(1, HAN, 3000)
    japanese = _cjk_text(2, HAN[:300] + KANA * 3, 3000)
    works = {"zh": reg.enroll(alice, chinese.encode(), title="zh"),
             "ja": reg.enroll(alice, japanese.encode(), title="ja")}
    for name, text in (("zh", chinese), ("ja", japanese)):
        excerpt = text[1200:1300]
        surrounding = _cjk_text(7, HAN, 150) + excerpt + _cjk_text(8, HAN, 150)
        found = [m.work_id for m in reg.check(op, surrounding.encode()).matches]
        assert found == [works[name].id], name
    unrelated = _cjk_text(9, HAN, 400)
    assert reg.check(op, unrelated.encode()).matches == []
    reg.close()


def test_ascii_fast_path_gives_the_general_tokens() -> None:
    """ASCII text takes a plain word pattern; its tokens, ids and offsets equal the general pattern's."""
    from matcher.text import normalize

    texts = [p.read_text(encoding="utf-8") for p in sorted((FIXTURES / "texts").glob("*.txt"))]
    texts += ["snake_case and CamelCase, digits 123abc, under_score_ and tabs\tand\nnew lines", "", "   ", "a"]
    for text in texts:
        if not text.isascii():
            continue
        fast = normalize.tokenize(text)
        matches = list(normalize._TOKEN.finditer(text))
        assert fast.ids.tolist() == [normalize._word_id(m.group()) for m in matches]
        assert fast.starts.tolist() == [m.start() for m in matches]
        assert fast.ends.tolist() == [m.end() for m in matches]


def test_word_ids_equal_the_tokens_ids() -> None:
    """The offsets-free fast path gives the ids `tokenize` gives, on ASCII, accented, CJK and evasive text."""
    from matcher.text.normalize import tokenize, word_ids

    samples = [
        (FIXTURES / "texts" / "emma-ch001.txt").read_text(),
        "Café naïve façade — déjà vu; ÉCOLE école",
        "这是一个测试。日本語のテキストも、ここにあります。",
        "co\u200bpy\u00adright wi\u2060th joi\u034fners and \u0421yrillic l\u043e\u043ek-alikes",
        "", "   \n\t ", "one",
    ]
    for text in samples:
        assert word_ids(text).tolist() == tokenize(text).ids.tolist(), text[:40]
