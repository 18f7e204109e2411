"""Accent-, case- and punctuation-insensitive text keys, with a map back to the original text."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

_DROP = {"°", "º"}


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    if ch in _DROP:
        return ""
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return base.lower().replace("œ", "oe").replace("æ", "ae")


@lru_cache(maxsize=4096)
def fold_with_index(text: str) -> tuple[str, tuple[int, ...]]:
    """The key of `text` (lower-case ASCII-ish words separated by one space) and, for each key
    character, the index of the original character it came from.

    Cached: the matcher folds the same lines and labels many times over (once per section and label).
    """
    out: list[str] = []
    index: list[int] = []
    pending_space = False
    for i, ch in enumerate(text):
        for c in _fold_char(ch):
            if c.isalnum():
                if pending_space and out:
                    out.append(" ")
                    index.append(i)
                pending_space = False
                out.append(c)
                index.append(i)
            else:
                pending_space = True
    return "".join(out), tuple(index)


def fold(text: str) -> str:
    """The comparison key of `text`: "N° de SIRET :" -> "n de siret", "Élodie" -> "elodie"."""
    return fold_with_index(text)[0]
