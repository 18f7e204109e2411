"""The form's own text, folded for matching: its labels, its headings and the notes it prints.

A line of a document is compared with this text in three ways: a label that starts the line as the
definition spells it (accents, case and punctuation ignored); a label recognised by similarity
(rapidfuzz), for older editions and re-typed forms whose wording differs; and the form's own
headings and notes, which are never values and end the answer before them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from rapidfuzz import fuzz

from mailflow.pipeline.extract.folding import fold, fold_with_index
from mailflow.pipeline.extract.model import MARKERS
from mailflow.pipeline.forms.definition import FieldDefinition, FormDefinition

_SEPARATOR = re.compile(
    r"^[ \u00a0" + MARKERS + r"]*(?:\([^)]{0,60}\)[ \u00a0]*)?[.?]?[ \u00a0" + MARKERS + r"]*"
    r"(?:[:：=]|[-–—](?=\s)|[._…·]{2,}|\t|[ \u00a0]{2,}|$"
    r"|[ \u00a0]+[^\W\d][^:：\n\d@()]{0,38}[ \u00a0]*[:：])"
)
# Where a typed label ends when the line also holds the answer: a colon, a tab, dot leaders.
_LABEL_END = re.compile(r"[:：\t]|[._…·]{3,}|[ \u00a0]{3,}")
_PARENS = re.compile(r"\([^)]*\)")
SIMILAR_LABEL = 85.0  # mean of rapidfuzz ratio and token-set ratio from which a typed label is a form label
SIMILAR_HEADING = 88.0
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class LabelHit:
    """A label found at the start of a line: its field, the text after it, and whether it was exact."""

    field: FieldDefinition
    remainder: str
    similar: bool = False


def _remembered(cache: dict[K, V], key: K, make: Callable[[], V]) -> V:
    """`cache[key]`, made the first time it is asked for; a cache grown past 10,000 entries starts again."""
    if key not in cache:
        if len(cache) > 10_000:
            cache.clear()
        cache[key] = make()
    return cache[key]


def strip_parens(text: str) -> str:
    return _PARENS.sub(" ", text)


class LabelIndex:
    """Every label, heading and note of a form definition, folded for matching."""

    def __init__(self, definition: FormDefinition):
        self.definition = definition
        self.labels: list[tuple[str, FieldDefinition]] = []
        owners: dict[str, set[str]] = {}
        for f in definition.fields:
            for label in {fold(x) for x in f.labels}:
                if label:
                    self.labels.append((label, f))
                    owners.setdefault(label, set()).add(f.path)
        self.labels.sort(key=lambda item: -len(item[0]))
        # A label starts a line only if the line's first word is the label's: each line is compared
        # with the few labels sharing its first word, longest first, not with all of them.
        self._by_first_word: dict[str, list[tuple[str, FieldDefinition]]] = {}
        for label, f in self.labels:
            self._by_first_word.setdefault(label.partition(" ")[0], []).append((label, f))
        self.ambiguous = {k for k, v in owners.items() if len(v) > 1}
        self.headings: dict[str, str] = {}
        for s in definition.sections:
            for h in s.headings:
                self.headings[fold(strip_parens(h))] = s.key
        self.notes = {fold(strip_parens(n)) for n in definition.form_text} - {""}
        self.start_markers = {fold(m) for m in definition.start_markers}
        self.end_markers = tuple(fold(m) for m in definition.end_markers)
        self._similar_cache: dict[tuple[str, str | None], LabelHit | None] = {}
        self._heading_cache: dict[str, str | None] = {}
        self._known_text_cache: dict[str, bool] = {}

    # -- headings and notes --------------------------------------------------------------------------

    def heading(self, line: str) -> str | None:
        """The section a heading line announces (a line ending with ':' is a label, never a heading)."""
        text = line.strip().strip(MARKERS)
        if not text or text.endswith((":", "：")) or len(text) > 120:
            return None
        key = fold(strip_parens(text))
        if key in self.headings:
            return self.headings[key]
        return _remembered(self._heading_cache, key, lambda: self._similar_heading(key))

    def _similar_heading(self, key: str) -> str | None:
        """A heading worded a little differently ("La collectivite d'accueil", "... du stage")."""
        tokens = key.split()
        if not 2 <= len(tokens) <= 12 or key in self.notes:
            return None
        best, section = 0.0, None
        for heading, owner in self.headings.items():
            size = len(heading.split())
            score = fuzz.ratio(key, heading)
            if size >= 3 and len(tokens) <= size + 3 and tokens[0] in heading.split()[:2] + ["la", "le", "les"]:
                score = max(score, fuzz.token_set_ratio(key, heading) - 2)
            if score > best:
                best, section = score, owner
        return section if best >= SIMILAR_HEADING else None

    def is_form_text(self, line: str) -> bool:
        """Whether a line is printed by the blank form itself (a note or sub-heading): never a value."""
        key = fold(strip_parens(line.strip(" \t\u00a0" + MARKERS)))
        if not key or len(key) > 200:
            return False
        if key in self.notes:
            return True
        return len(key) >= 12 and any(fuzz.ratio(key, note) >= SIMILAR_HEADING for note in self.notes)

    def is_start(self, line: str) -> bool:
        return len(line) < 120 and fold(line) in self.start_markers

    def is_end(self, line: str) -> bool:
        key = fold(line)
        return bool(key) and any(key == m or key.startswith(m + " ") for m in self.end_markers)

    def is_known_text(self, line: str) -> bool:
        """A heading, a note, or a label alone on its line: the form speaking, not the collectivité.
        Cached: every value of every form is checked, and most are the same few lines."""
        return _remembered(self._known_text_cache, line, lambda: self._is_known_text(line))

    def _is_known_text(self, line: str) -> bool:
        text = line.strip(" \t\u00a0" + MARKERS)
        if self.heading(text) is not None or self.is_form_text(text):
            return True
        for section in (None, *(s.key for s in self.definition.sections)):
            hit = self.label(text, section, whole_cell=True)
            if hit is not None and not hit.remainder.strip(" .:_…\t" + MARKERS):
                return True
        return False

    # -- labels --------------------------------------------------------------------------------------

    def label(self, line: str, section: str | None, whole_cell: bool) -> LabelHit | None:
        """The field whose label starts `line`, preferring the current section for shared labels."""
        key, index = fold_with_index(line)
        if not key:
            return None
        for label, f in self._by_first_word.get(key.partition(" ")[0], ()):
            if not (key == label or key.startswith(label + " ")):
                continue
            if label in self.ambiguous and f.section != section:
                continue
            rest = line[index[len(label) - 1] + 1:]
            sep = _SEPARATOR.match(rest)
            if sep:
                return LabelHit(f, rest[sep.end():])
        return self.similar(line, section, whole_cell)

    def similar(self, line: str, section: str | None, whole_cell: bool) -> LabelHit | None:
        """A label worded differently from every listed variant, recognised by similarity.

        The typed label is what precedes a colon, a tab or dot leaders (or the whole cell). Its first
        word must be the form label's first word ("Numero de SIRET" for "N° de SIRET" is found through
        "Numéro SIRET"), so that a sentence that merely contains a label's words is not taken for it.
        """
        text = line.strip(" \t\u00a0" + MARKERS)
        end = _LABEL_END.search(text)
        if end is not None:
            typed, remainder = text[:end.start()], text[end.end():]
        elif whole_cell or (len(text.split()) <= 12 and not text.endswith((".", ";", ","))):
            typed, remainder = text, ""
        else:
            return None
        if len(typed) > 110 or len(typed) < 3:
            return None
        key = fold(strip_parens(typed))
        if not key or len(key.split()) > 16:
            return None
        hit = _remembered(self._similar_cache, (key, section), lambda: self._best(key, section))
        if hit is None or (end is None and not whole_cell and hit.remainder != "exact"):
            return None  # a line of running text alone is a label only when (almost) exactly one
        return LabelHit(hit.field, remainder, similar=True)

    def _best(self, key: str, section: str | None) -> LabelHit | None:
        best: tuple[float, float, int] = (0.0, 0.0, 0)
        found: FieldDefinition | None = None
        for label, f in self._by_first_word.get(key.partition(" ")[0], ()):
            if label in self.ambiguous and f.section != section:
                continue
            whole = fuzz.ratio(key, label)
            if whole < 60:  # "Objectifs :" opening a paragraph is not "Objectifs opérationnels"
                continue
            # the typed label may add words to the form's ("... du projet"), never drop most of them
            subset = fuzz.token_set_ratio(key, label) if len(label.split()) >= 2 and len(key) >= len(label) else whole
            score = ((whole + subset) / 2, whole, len(label))
            if score > best:
                best, found = score, f
        if found is None or best[0] < SIMILAR_LABEL:
            return None
        # "exact" marks a typed label almost equal to the form's (not one that merely contains it)
        return LabelHit(found, "exact" if best[1] >= 80 else "", similar=True)
