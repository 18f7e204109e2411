"""HTML mail bodies as blocks: tables keep their cells (so a label cell stays beside its value cell).

inscriptis (used for plain text views of HTML) renders a table as aligned text columns, which spreads a
multi-line cell over the rows of the labels beside it; reading a form needs the cells, so this walker
keeps the structure with lxml.html instead.
"""

from __future__ import annotations

import lxml.html
from lxml import etree

from mailflow.pipeline.extract.limits import Deadline
from mailflow.pipeline.extract.model import Block, Cell, Para, Table

_BLOCK_TAGS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "section",
               "article", "header", "footer", "ul", "ol", "dl", "dt", "dd", "address", "center", "form",
               "fieldset"}
_SKIP_TAGS = {"script", "style", "head", "title", "meta", "noscript", "template"}


class _Walker:
    def __init__(self, deadline: Deadline, keep_quotes: bool):
        self.deadline = deadline
        self.keep_quotes = keep_quotes
        self.blocks: list[Block] = []
        self.current: list[str] = []

    def flush(self) -> None:
        text = "".join(self.current)
        self.current = []
        lines = [" ".join(x.split()) for x in text.split("\n")]
        if any(lines):
            self.blocks.append(Para(tuple(x for x in lines if x) or ("",)))

    def walk(self, el: etree._Element) -> None:
        self.deadline.check()
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        quoted = tag == "blockquote" and not self.keep_quotes
        if tag in _SKIP_TAGS or not isinstance(el.tag, str) or quoted:
            if el.tail:
                self.current.append(el.tail)
            return
        if tag == "table":
            self.flush()
            self.blocks.append(self.table(el))
        elif tag == "br":
            self.current.append("\n")
        elif tag in _BLOCK_TAGS:
            self.flush()
            if tag == "li":
                self.current.append("- ")
            if el.text:
                self.current.append(el.text)
            for child in el:
                self.walk(child)
            self.flush()
        else:
            if el.text:
                self.current.append(el.text)
            for child in el:
                self.walk(child)
        if el.tail:
            self.current.append(el.tail)

    def table(self, table: etree._Element) -> Table:
        rows = []
        for tr in table.iter("tr"):
            if next(tr.iterancestors("table")) is not table:
                continue
            cells = []
            for td in tr:
                if not isinstance(td.tag, str) or td.tag.lower() not in ("td", "th"):
                    continue
                inner = _Walker(self.deadline, self.keep_quotes)
                if td.text:
                    inner.current.append(td.text)
                for child in td:
                    inner.walk(child)
                inner.flush()
                cells.append(Cell(tuple(inner.blocks)))
            rows.append(tuple(cells))
        return Table(tuple(rows))


def html_blocks(html: str, deadline: Deadline, keep_quotes: bool = False) -> list[Block]:
    """The paragraphs and tables of an HTML document (quoted <blockquote>s dropped unless kept)."""
    try:
        root = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return []
    body = root.find("body")
    walker = _Walker(deadline, keep_quotes)
    walker.walk(body if body is not None else root)
    walker.flush()
    return walker.blocks
