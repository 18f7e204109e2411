"""Ruled tables of a PDF page: pdfplumber's table finder fed with the page's lines as PDFium reads them.

pdfplumber finds tables from the edges of the lines and rectangles a page draws; getting those edges
through pdfplumber means letting pdfminer interpret the whole page (glyphs included). Here the path
objects come from PDFium and are turned into the same edges pdfminer would make of them (a two-point
path is a line, a closed axis-aligned four-sided path a rectangle with four edges, anything else a
curve whose straight pieces are edges), in pdfplumber's coordinates, and pdfplumber's TableFinder,
with its default settings, does the rest. Only pages that draw paths are looked at.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable, Iterator

import pypdfium2.raw as pdfium_c
from pdfplumber.table import Table, TableFinder, TableSettings

from mailflow.pipeline.extract.pdfwords import PageFrame

_SETTINGS = TableSettings.resolve(None)
_Point = tuple[float, float]
_Matrix = tuple[float, float, float, float, float, float]


class _EdgesPage:
    """The two things TableFinder reads of a page with the "lines" strategy: its edges and its box."""

    def __init__(self, edges: list[dict], bbox: tuple[float, float, float, float]) -> None:
        self.edges = edges
        self.bbox = bbox


def _times(m: _Matrix, n: _Matrix) -> _Matrix:
    """m then n."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (a * a2 + b * c2, a * b2 + b * d2, c * a2 + d * c2, c * b2 + d * d2, e * a2 + f * c2 + e2,
            e * b2 + f * d2 + f2)


def _matrix(obj) -> _Matrix:
    m = pdfium_c.FS_MATRIX()
    if not pdfium_c.FPDFPageObj_GetMatrix(obj, m):
        return (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    return (round(m.a, 6), round(m.b, 6), round(m.c, 6), round(m.d, 6), round(m.e, 4), round(m.f, 4))


def _paths(count: int, get: Callable[[int], object], outer: _Matrix) -> Iterator[tuple[object, _Matrix]]:
    """The painted path objects with their matrix to user space (forms opened where they are drawn)."""
    fill, stroke = ctypes.c_int(), ctypes.c_int()
    for i in range(count):
        obj = get(i)
        kind = pdfium_c.FPDFPageObj_GetType(obj)
        if kind == pdfium_c.FPDF_PAGEOBJ_PATH:
            if pdfium_c.FPDFPath_GetDrawMode(obj, fill, stroke) and (fill.value or stroke.value):
                yield obj, _times(_matrix(obj), outer)
        elif kind == pdfium_c.FPDF_PAGEOBJ_FORM:
            yield from _paths(pdfium_c.FPDFFormObj_CountObjects(obj),
                              lambda k, o=obj: pdfium_c.FPDFFormObj_GetObject(o, k), _times(_matrix(obj), outer))


def _segments(obj, m: _Matrix, frame: PageFrame) -> tuple[str, list[_Point]]:
    """The path as pdfminer records it: one letter per operator (m, l, c, h) and its end point."""
    shape: list[str] = []
    points: list[_Point] = []
    x, y = ctypes.c_float(), ctypes.c_float()
    a, b, c, d, e, f = m
    start: _Point = (0.0, 0.0)
    curve = 0
    for i in range(pdfium_c.FPDFPath_CountSegments(obj)):
        segment = pdfium_c.FPDFPath_GetPathSegment(obj, i)
        pdfium_c.FPDFPathSegment_GetPoint(segment, x, y)
        kind = pdfium_c.FPDFPathSegment_GetType(segment)
        px, py = round(x.value, 4), round(y.value, 4)  # single precision, back to the decimals written
        point = frame.point(a * px + c * py + e, b * px + d * py + f)
        if kind == pdfium_c.FPDF_SEGMENT_MOVETO:
            shape.append("m")
            points.append(point)
            start = point
        elif kind == pdfium_c.FPDF_SEGMENT_LINETO:
            shape.append("l")
            points.append(point)
        elif kind == pdfium_c.FPDF_SEGMENT_BEZIERTO:
            curve += 1
            if curve == 3:  # two control points, then the end point
                curve = 0
                shape.append("c")
                points.append(point)
        if pdfium_c.FPDFPathSegment_GetClose(segment):
            shape.append("h")
            points.append(start)
    return "".join(shape), points


def _box(points: list[_Point]) -> dict:
    xs, tops = [p[0] for p in points], [p[1] for p in points]
    x0, x1, top, bottom = min(xs), max(xs), min(tops), max(tops)
    return {"x0": x0, "x1": x1, "top": top, "bottom": bottom, "doctop": top, "width": x1 - x0,
            "height": bottom - top}


def _edges(shape: str, points: list[_Point]) -> list[dict]:
    """pdfplumber's edges of one subpath (see pdfminer's PDFLayoutAnalyzer.paint_path)."""
    if len(shape) > 3 and shape[-2:] == "lh" and points[-2] == points[0]:
        shape = shape[:-2] + "h"
        points = points[:-2] + points[-1:]
    if shape in ("mlh", "ml"):
        edge = _box(points[:2])
        edge.update(object_type="line", orientation="h" if edge["top"] == edge["bottom"] else "v")
        return [edge]
    if shape in ("mlllh", "mllll"):
        (x0, y0), (x1, y1), (x2, y2), (x3, y3), _ = points
        square = (x0 == x1 and y1 == y2 and x2 == x3 and y3 == y0) or (y0 == y1 and x1 == x2 and y2 == y3 and x3 == x0)
        if points[0] == points[4] and square:
            rect = _box([points[0], points[2]])
            top = dict(rect, object_type="rect_edge", height=0, bottom=rect["top"], orientation="h")
            bottom = dict(rect, object_type="rect_edge", height=0, top=rect["bottom"], doctop=rect["bottom"],
                          orientation="h")
            left = dict(rect, object_type="rect_edge", width=0, x1=rect["x0"], orientation="v")
            right = dict(rect, object_type="rect_edge", width=0, x0=rect["x1"], orientation="v")
            return [top, bottom, left, right]
    edges = []
    for p0, p1 in zip(points, points[1:], strict=False):
        edge = _box([p0, p1])
        orientation = "v" if p0[0] == p1[0] else ("h" if p0[1] == p1[1] else None)
        edge.update(object_type="curve_edge", orientation=orientation)
        edges.append(edge)
    return edges


def page_edges(page, frame: PageFrame) -> list[dict]:
    """The edges of every line, rectangle and curve the page paints, as pdfplumber's `page.edges`."""
    edges: list[dict] = []
    identity = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    for obj, m in _paths(pdfium_c.FPDFPage_CountObjects(page.raw),
                         lambda k: pdfium_c.FPDFPage_GetObject(page.raw, k), identity):
        shape, points = _segments(obj, m, frame)
        if shape.count("m") > 1:
            for found in re.finditer(r"m[^m]+", shape):
                edges.extend(_edges(found.group(0), points[found.start():found.end()]))
        elif shape[:1] == "m":
            edges.extend(_edges(shape, points))
    return edges


def find_tables(page, frame: PageFrame, width: float) -> list[Table]:
    """pdfplumber's tables of the page (default settings), from PDFium's path objects."""
    edges = page_edges(page, frame)
    if not edges:
        return []
    return TableFinder(_EdgesPage(edges, (0.0, 0.0, width, frame.height)), _SETTINGS).tables
