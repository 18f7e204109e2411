"""A PDF page's words from PDFium's text layer, placed and split the way pdfplumber splits them.

pdfplumber reads a page through pdfminer, which builds a Python object per glyph (about 0.15 s a
page); PDFium reads the same text in C. Its text page is made for selection and search, though: it
inserts spaces and line breaks of its own, flags a hyphen that ends a line, and keeps one space where
the page had two. The characters are taken back to what the page draws (generated characters dropped,
a space PDFium kept in place of the page's own kept as a space) and each is given pdfminer's box: from
the pen position to the glyph's advance across, from the font's descent below the baseline to one
font size above it, in pdfplumber's coordinates (from the page's top left, the MediaBox's). The words
are then built by pdfplumber's own WordExtractor (3 pt tolerances, a new word at each font change), so
that the layout rules downstream see the words they were written against.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass

import pypdfium2.raw as pdfium_c
from pdfplumber.utils.text import WordExtractor

from mailflow.pipeline.extract.pdffonts import FontFacts, base_key

_EXTRACTOR = WordExtractor(x_tolerance=3, y_tolerance=3, keep_blank_chars=False, extra_attrs=["fontname"])
_HYPHEN = 0x2  # PDFium's code for a hyphen that ends a line before a word goes on
_BLANKS = frozenset((0x20, 0x0D, 0x0A))  # the characters PDFium generates
# The ZapfDingbats boxes and ticks forms use, from the Unicode symbol PDFium gives back to the font's
# own character, which pdfminer reports
_ZAPF_CODES = {0x2714: ord("4"), 0x2713: ord("3"), 0x2718: ord("8"), 0x25A0: ord("n"), 0x274F: ord("o"),
               0x2751: ord("q"), 0x2750: ord("p")}
_LIGATURES = {"ff": 0xFB00, "fi": 0xFB01, "fl": 0xFB02, "ffi": 0xFB03, "ffl": 0xFB04, "st": 0xFB06}


@dataclass(frozen=True)
class PageFrame:
    """How PDF user space maps to pdfplumber's page coordinates: the rotation and the MediaBox."""

    ctm: tuple[float, float, float, float, float, float]
    height: float

    def point(self, x: float, y: float) -> tuple[float, float]:
        """(x, top) of a user-space point."""
        a, b, c, d, e, f = self.ctm
        return a * x + c * y + e, self.height - (b * x + d * y + f)


def page_frame(page) -> PageFrame:
    """The frame of a pypdfium2 page: pdfminer's rotation matrix and the MediaBox's height."""
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    if pdfium_c.FPDFPage_GetMediaBox(page.raw, left, bottom, right, top):
        box = (round(left.value, 4), round(bottom.value, 4), round(right.value, 4), round(top.value, 4))
    else:  # inherited from the page tree, which this call does not look up: the visible box
        rect = pdfium_c.FS_RECTF()
        pdfium_c.FPDF_GetPageBoundingBox(page.raw, rect)
        box = (round(rect.left, 4), round(rect.bottom, 4), round(rect.right, 4), round(rect.top, 4))
    x0, y0 = min(box[0], box[2]), min(box[1], box[3])
    x1, y1 = max(box[0], box[2]), max(box[1], box[3])
    rotation = pdfium_c.FPDFPage_GetRotation(page.raw) % 4
    # pdfminer's matrix for the page's rotation, relative to the MediaBox; pdfplumber then moves x back
    # by the box's left edge and measures `top` from the box's height (both once rotated)
    a, b, c, d, e, f = {0: (1, 0, 0, 1, -x0, -y0), 1: (0, -1, 1, 0, -y0, x1), 2: (-1, 0, 0, -1, x1, y1),
                        3: (0, 1, -1, 0, y1, -x0)}[rotation]
    left, low = (y0, x0) if rotation in (1, 3) else (x0, y0)
    height = (x1 - x0) if rotation in (1, 3) else (y1 - y0)
    return PageFrame((float(a), float(b), float(c), float(d), float(e + left), float(f + low)), float(height))


@dataclass
class _Font:
    name: str
    descent: float  # per unit of font size, negative
    widths: dict[int, float]
    standard: dict[str, float] | None = None  # pdfminer's metrics of a standard font
    dingbats: bool = False


class Fonts:
    """Font facts by PDFium font handle, worked out once per font (and once per character for widths).

    Name and descent come from pdfminer's reading of the font dicts (`facts`, by BaseFont) when the
    name is known there, else from PDFium."""

    def __init__(self, facts: dict[str, list[FontFacts]]) -> None:
        self._facts = facts
        self._fonts: dict[int, _Font] = {}
        self._buffer = ctypes.create_string_buffer(256)

    def get(self, handle) -> _Font:
        key = ctypes.cast(handle, ctypes.c_void_p).value or 0
        font = self._fonts.get(key)
        if font is None:
            size = pdfium_c.FPDFFont_GetBaseFontName(handle, self._buffer, len(self._buffer))
            name = self._buffer.raw[:max(size - 1, 0)].decode("latin-1") if size else ""
            known = self._facts.get(base_key(name))
            if known:
                font = _Font(known[0].name, known[0].descent, {}, known[0].widths,
                             "zapfdingbats" in known[0].name.lower())
            else:
                descent = ctypes.c_float()
                pdfium_c.FPDFFont_GetDescent(handle, ctypes.c_float(1000.0), descent)
                font = _Font(name, -abs(descent.value) / 1000.0, {})
            self._fonts[key] = font
        return font

    def width(self, handle, font: _Font, code: int) -> float | None:
        """The advance of a character at size 1, None when PDFium cannot map it back to the font.

        pdfminer measures the 14 standard fonts with its own metrics: those are used when they know
        the character."""
        width = font.widths.get(code)
        if width is None and font.standard is not None and chr(code) in font.standard:
            width = font.standard[chr(code)] / 1000.0
            font.widths[code] = width
        if width is None:
            out = ctypes.c_float()
            ok = pdfium_c.FPDFFont_GetGlyphWidth(handle, code, ctypes.c_float(1000.0), out)
            width = out.value / 1000.0 if ok else -1.0
            font.widths[code] = width
        return width if width > 0 else None


def _address(handle) -> int:
    return ctypes.cast(handle, ctypes.c_void_p).value or 0


def _fast(function, restype, *argtypes):
    """A pypdfium2 binding re-declared with plain integer handles: the per-character calls run a few
    thousand times a page, and converting pointer objects back and forth doubled their cost."""
    return ctypes.CFUNCTYPE(restype, *argtypes)(_address(function))


_VOID, _INT, _DOUBLE_P = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_double)
_unicode = _fast(pdfium_c.FPDFText_GetUnicode, ctypes.c_uint, _VOID, _INT)
_generated = _fast(pdfium_c.FPDFText_IsGenerated, _INT, _VOID, _INT)
_text_object = _fast(pdfium_c.FPDFText_GetTextObject, _VOID, _VOID, _INT)
_origin = _fast(pdfium_c.FPDFText_GetCharOrigin, _INT, _VOID, _INT, _DOUBLE_P, _DOUBLE_P)


def _page_objects(page) -> tuple[dict[int, int], list]:
    """Each page object's place in the content stream (forms' objects where the form is drawn), and
    the text objects PDFium's text page leaves out because they draw nothing (a lone space)."""
    order: dict[int, int] = {}
    blank: list = []
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))

    def walk(count: int, get: Callable[[int], object], top_level: bool) -> None:
        for i in range(count):
            obj = get(i)
            order[_address(obj)] = len(order)
            kind = pdfium_c.FPDFPageObj_GetType(obj)
            if kind == pdfium_c.FPDF_PAGEOBJ_TEXT and top_level:
                if pdfium_c.FPDFPageObj_GetBounds(obj, left, bottom, right, top) and right.value - left.value < 0.01:
                    blank.append(obj)
            elif kind == pdfium_c.FPDF_PAGEOBJ_FORM:
                walk(pdfium_c.FPDFFormObj_CountObjects(obj), lambda k, o=obj: pdfium_c.FPDFFormObj_GetObject(o, k),
                     False)

    walk(pdfium_c.FPDFPage_CountObjects(page.raw), lambda k: pdfium_c.FPDFPage_GetObject(page.raw, k), True)
    return order, blank


def _text(raw, count: int) -> str | None:
    """The page's characters in one call, when they come one UTF-16 unit each (else None)."""
    buffer = ctypes.create_string_buffer((count + 1) * 2)
    written = pdfium_c.FPDFText_GetText(raw, 0, count, ctypes.cast(buffer, ctypes.POINTER(ctypes.c_ushort)))
    text = buffer.raw[:max(written - 1, 0) * 2].decode("utf-16-le", errors="replace")
    return text if len(text) == count and written - 1 == count else None


def page_chars(page, textpage, frame: PageFrame, fonts: Fonts) -> list[dict]:
    """The page's characters as pdfplumber's char dicts (the keys its WordExtractor reads), in the
    order the page draws them (PDFium sorts the pieces of a line by position; pdfplumber groups
    characters by font in drawing order, so the order decides where a font change ends a word)."""
    raw = textpage.raw
    handle = _address(raw)
    count = pdfium_c.FPDFText_CountChars(raw)
    order, blank = _page_objects(page)
    chars: list[dict] = []
    ranks: list[int] = []
    x, y = ctypes.c_double(), ctypes.c_double()
    px, py = ctypes.byref(x), ctypes.byref(y)
    matrix = pdfium_c.FS_MATRIX()
    loose = pdfium_c.FS_RECTF()
    last_object = None
    state: tuple = ()
    rank = 0
    height = frame.height
    plain_page = frame.ctm == (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    pending_space: tuple[float, float] | None = None
    last: dict | None = None  # the last character drawn, and where
    last_x = last_y = 0.0
    last_address = None
    text = _text(raw, count)
    text_object, origin, blanks, rounded = _text_object, _origin, _BLANKS, round
    for i in range(count):
        code = ord(text[i]) if text is not None else 0xFFFE
        if code == 0xFFFE:  # the text buffer's mark for a character it leaves out (a line-end hyphen)
            code = _unicode(handle, i)
        if code in blanks and _generated(handle, i):
            if code == 0x20 and text_object(handle, i):
                origin(handle, i, px, py)
                pending_space = (rounded(x.value, 4), rounded(y.value, 4))
            continue
        address = text_object(handle, i)
        if address != last_object:
            last_object = address
            rank = order.get(address or 0, len(order))
            state = _object_state(address, raw, i, matrix, fonts, plain_page)
        font_handle, font, size, a, b, c, d, low, plain = state
        origin(handle, i, px, py)
        ox, oy = rounded(x.value, 4), rounded(y.value, 4)  # PDFium's single precision, as written
        if pending_space is not None:
            # A space PDFium generated where the page drew its own (it keeps one of two): the page's
            # space started there, the next character starts further on. It only ends a word.
            sx, sy = pending_space
            pending_space = None
            if abs(ox - sx) > 0.01 or abs(oy - sy) > 0.01:
                chars.append(_char(" ", font.name, frame, sx, sy, (a, b, c, d), 0.0, low, size))
                ranks.append(rank)
        if code == _HYPHEN and pdfium_c.FPDFText_IsHyphen(raw, i):
            code = 0x2D
        elif font.dingbats:
            code = _ZAPF_CODES.get(code, code)
        if last is not None and ox == last_x and oy == last_y and address == last_address:
            # PDFium splits a ligature ("ﬁ") into its letters, all at the glyph's place: pdfminer keeps
            # one character as wide as the glyph (and pdfplumber spells it out in the word)
            _join(last, chr(code), fonts, font_handle, font, raw, i, (ox, oy, (a, b, c, d), low, size), frame)
            continue
        width = font.widths.get(code)
        if width is None or width <= 0:
            width = fonts.width(font_handle, font, code)
        if width is None:
            pdfium_c.FPDFText_GetLooseCharBox(raw, i, loose)
            advance = (loose.right - loose.left) / (a or 1.0)
        else:
            advance = width * size
        if plain:  # upright text on an unrotated page: pdfminer's box without the matrix algebra
            top = height - (oy + d * (low + size))
            last = {"text": chr(code), "x0": ox, "x1": ox + a * advance, "top": top,
                    "bottom": height - (oy + d * low), "doctop": top, "upright": True, "fontname": font.name}
        else:
            last = _char(chr(code), font.name, frame, ox, oy, (a, b, c, d), advance, low, size)
        last_x, last_y, last_address = ox, oy, address
        chars.append(last)
        ranks.append(rank)
    for obj in blank:
        chars.append(_blank(obj, frame, fonts))
        ranks.append(order[_address(obj)])
    if all(r0 <= r1 for r0, r1 in zip(ranks, ranks[1:], strict=False)):
        return chars
    return [chars[k] for k in sorted(range(len(chars)), key=lambda k: (ranks[k], k))]


def _object_state(address: int, raw, index: int, matrix, fonts: Fonts, plain_page: bool) -> tuple:
    """What the characters of one text object share: font, size, matrix, descent below the baseline,
    and whether their boxes need no matrix algebra."""
    text_object = ctypes.cast(address, pdfium_c.FPDF_PAGEOBJECT)
    font_handle = pdfium_c.FPDFTextObj_GetFont(text_object)
    font = fonts.get(font_handle)
    size = ctypes.c_float()
    pdfium_c.FPDFTextObj_GetFontSize(text_object, size)
    pdfium_c.FPDFText_GetMatrix(raw, index, matrix)
    a, b, c, d = matrix.a, matrix.b, matrix.c, matrix.d
    return (font_handle, font, size.value, a, b, c, d, font.descent * size.value,
            plain_page and b == 0 and c == 0 and a > 0 and d > 0)


def _join(char: dict, letter: str, fonts: Fonts, font_handle, font: _Font, raw, index: int,
          pen: tuple, frame: PageFrame) -> None:
    """Add a ligature's next letter to its first one, and make the character as wide as the glyph."""
    ox, oy, m, low, size = pen
    text = char["text"] + letter
    ligature = _LIGATURES.get(text)
    width = fonts.width(font_handle, font, ligature) if ligature else None
    if width is not None:
        advance = width * size
    else:
        loose = pdfium_c.FS_RECTF()
        pdfium_c.FPDFText_GetLooseCharBox(raw, index, loose)
        advance = (loose.right - loose.left) / (m[0] or 1.0)
    char.update(_char(text, char["fontname"], frame, ox, oy, m, advance, low, size))


def _blank(obj, frame: PageFrame, fonts: Fonts) -> dict:
    """A space for a text object that draws only blank characters (it still ends a word)."""
    font = fonts.get(pdfium_c.FPDFTextObj_GetFont(obj))
    size = ctypes.c_float()
    pdfium_c.FPDFTextObj_GetFontSize(obj, size)
    m = pdfium_c.FS_MATRIX()
    pdfium_c.FPDFPageObj_GetMatrix(obj, m)
    return _char(" ", font.name, frame, m.e, m.f, (m.a, m.b, m.c, m.d), 0.0, font.descent * size.value, size.value)


def _char(text: str, fontname: str, frame: PageFrame, ox: float, oy: float,
          m: tuple[float, float, float, float], advance: float, low: float, size: float) -> dict:
    a, b, c, d = m
    xs, tops = [], []
    for tx in (0.0, advance):
        for ty in (low, low + size):
            px, top = frame.point(ox + a * tx + c * ty, oy + b * tx + d * ty)
            xs.append(px)
            tops.append(top)
    ca, cb, cc, cd = frame.ctm[:4]
    ma, mb = a * ca + b * cc, a * cb + b * cd
    mc, md = c * ca + d * cc, c * cb + d * cd
    top = min(tops)
    return {"text": text, "x0": min(xs), "x1": max(xs), "top": top, "bottom": max(tops), "doctop": top,
            "upright": ma * md > 0 and mb * mc <= 0, "fontname": fontname}


def page_words(page, fonts: Fonts, frame: PageFrame, check: Callable[[], None]) -> tuple[list[dict], int]:
    """pdfplumber's words of a page (with their font name) and the number of characters drawn."""
    textpage = page.get_textpage()
    try:
        chars = page_chars(page, textpage, frame, fonts)
    finally:
        textpage.close()
    check()
    return _EXTRACTOR.extract_words(chars), len(chars)
