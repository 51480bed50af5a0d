"""A small, strict reader for the YAML subset of ``deploy/`` (tests only: PyYAML is no dependency).

Theory of operation: the text is cut into documents at ``---`` lines; each
line loses its comment (a ``#`` at the start or after a blank, outside
quotes) and is kept with its indentation. A recursive descent over those
lines builds block mappings (``key: value``) and block sequences
(``- item``, where an item may open a mapping on the dash line, and a
sequence may sit at its parent key's indentation). Values on one line are
scalars, flow sequences of scalars (``["a", "b"]``) or the empty ``{}`` /
``[]``. Scalars follow the YAML 1.2 core schema: ``null``/``~``, booleans
``true``/``false``, decimal integers and floats; anything else is a string.

Everything outside that subset raises :class:`YamlSubsetError` with the line
number instead of being guessed at: tabs, anchors, aliases, tags, block
scalars, multi-line scalars, non-empty flow mappings, nested flow
collections, complex keys, duplicate keys, directives, and plain scalars
that YAML 1.1 readers (still common in tools) would read differently from
YAML 1.2 (``yes``/``no``/``on``/``off``, ``0755``, ``1:30``): those must be quoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DOCUMENT_START = "---"
INDICATOR_START = set("[]{},#&*!|>'\"%@`")
UNSUPPORTED_START = {"&": "anchors", "*": "aliases", "!": "tags", "|": "block scalars",
                     ">": "block scalars", "%": "directives", "@": "reserved indicators",
                     "`": "reserved indicators", "?": "complex keys"}
NULLS = {"~", "null", "Null", "NULL"}
BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
YAML11_WORDS = {word for base in ("y", "yes", "n", "no", "on", "off")
                for word in (base, base.capitalize(), base.upper())}
INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
FLOAT = re.compile(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")
YAML11_NUMBERS = re.compile(  # octal, binary/hex, sexagesimal, underscored: YAML 1.1 numbers
    r"[-+]?(0[0-9]+|0[bxo][0-9a-fA-F_]+|[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9]*)?|[0-9][0-9_]*)")
EXPONENT_ONLY = re.compile(r"[-+]?[0-9]+[eE][-+]?[0-9]+")  # a float in YAML 1.2, a string in 1.1
SPECIAL_FLOATS = {".inf", ".nan"}
DOUBLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "n": "\n", "t": "\t"}


class YamlSubsetError(ValueError):
    """The text is outside the supported subset (or is not YAML at all)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line


@dataclass(frozen=True, slots=True)
class Line:
    """One meaningful line: its 1-based number, indentation, and text without comment or trailing blanks."""

    number: int
    indent: int
    text: str


def load_all(text: str) -> list[Any]:
    """Every document of ``text``, in order (an empty document is ``None``)."""
    documents: list[list[Line]] = [[]]
    for number, raw in enumerate(text.splitlines(), 1):
        line = _line(number, raw)
        if line is None:
            continue
        if line.text == DOCUMENT_START and line.indent == 0:
            documents.append([])
        elif line.text.startswith(("---", "...")) and line.indent == 0:
            raise YamlSubsetError(number, "document markers with content are not supported")
        else:
            documents[-1].append(line)
    if not documents[0]:
        documents.pop(0)  # nothing before the first ---
    return [_Parser(lines).document() for lines in documents]


def load(text: str) -> Any:
    """The single document of ``text``."""
    documents = load_all(text)
    if len(documents) != 1:
        raise YamlSubsetError(1, f"expected one document, found {len(documents)}")
    return documents[0]


def _line(number: int, raw: str) -> Line | None:
    stripped = raw.lstrip(" ")
    if stripped.startswith("\t"):
        raise YamlSubsetError(number, "tabs are not allowed in indentation")
    text = _strip_comment(number, stripped).rstrip()
    if not text:
        return None
    return Line(number, len(raw) - len(stripped), text)


def _strip_comment(number: int, text: str) -> str:
    """``text`` up to its comment: a ``#`` at the start or after a blank, outside quotes."""
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        if quote == '"' and c == "\\":
            i += 2
            continue
        if quote:
            quote = "" if c == quote else quote
        elif c in "\"'" and (i == 0 or text[i - 1] in " [,:-"):
            quote = c
        elif c == "#" and (i == 0 or text[i - 1] == " "):
            return text[:i]
        i += 1
    if quote:
        raise YamlSubsetError(number, "unterminated quoted scalar (multi-line scalars are not supported)")
    return text


def _is_item(text: str) -> bool:
    return text == "-" or text.startswith("- ")


class _Parser:
    """Recursive descent over the lines of one document."""

    def __init__(self, lines: list[Line]) -> None:
        self.lines = lines
        self.i = 0

    def peek(self) -> Line | None:
        return self.lines[self.i] if self.i < len(self.lines) else None

    def document(self) -> Any:
        first = self.peek()
        if first is None:
            return None
        if first.indent != 0:
            raise YamlSubsetError(first.number, "a document must start at column 0")
        value = self.node(0) if _is_item(first.text) or _split_key(first) else self.lone_scalar(first)
        rest = self.peek()
        if rest is not None:
            raise YamlSubsetError(rest.number, "unexpected indentation or content")
        return value

    def lone_scalar(self, line: Line) -> Any:
        self.i += 1
        return _value(line, line.text)

    def node(self, indent: int) -> Any:
        line = self.peek()
        assert line is not None and line.indent == indent
        return self.sequence(indent) if _is_item(line.text) else self.mapping(indent)

    def mapping(self, indent: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while (line := self.peek()) is not None and line.indent == indent and not _is_item(line.text):
            entry = _split_key(line)
            if entry is None:
                raise YamlSubsetError(line.number,
                                      "expected 'key: value' (multi-line scalars are not supported)")
            key, rest = entry
            if key in out:
                raise YamlSubsetError(line.number, f"duplicate key {key!r}")
            self.i += 1
            out[key] = self.value(rest, indent, line)
        self.expect_dedent(indent)
        return out

    def value(self, rest: str, indent: int, line: Line) -> Any:
        """The value of a key at ``indent`` whose line ends with ``rest``: inline, or a block below."""
        if rest:
            return _value(line, rest)
        below = self.peek()
        if below is None or below.indent < indent:
            return None
        if below.indent > indent:
            return self.node(below.indent)
        return self.sequence(indent) if _is_item(below.text) else None

    def sequence(self, indent: int) -> list[Any]:
        out: list[Any] = []
        while (line := self.peek()) is not None and line.indent == indent and _is_item(line.text):
            after = line.text[1:]
            item = after.lstrip(" ")
            if not item:
                self.i += 1
                below = self.peek()
                out.append(self.node(below.indent) if below is not None and below.indent > indent else None)
                continue
            if _is_item(item):
                raise YamlSubsetError(line.number, "nested sequences on one line are not supported")
            column = indent + 1 + len(after) - len(item)
            moved = Line(line.number, column, item)
            if _split_key(moved):
                self.lines[self.i] = moved  # the item is a mapping whose first key sits after the dash
                out.append(self.mapping(column))
            else:
                self.i += 1
                out.append(_value(line, item))
        self.expect_dedent(indent)
        return out

    def expect_dedent(self, indent: int) -> None:
        line = self.peek()
        if line is not None and line.indent > indent:
            raise YamlSubsetError(line.number, "unexpected indentation")


def _split_key(line: Line) -> tuple[str, str] | None:
    """``(key, rest)`` when the line is a ``key: value`` entry, else None."""
    text = line.text
    if text[0] in "[{":
        return None
    if text[0] in "\"'":
        end = _quoted_end(line, text)
        if not text[end:].startswith(":") or text[end + 1:end + 2] not in ("", " "):
            return None
        return _quoted(line, text[:end]), text[end + 1:].strip()
    match = re.search(r":( |$)", text)
    if match is None:
        return None
    key = text[:match.start()]
    _check_plain(line, key)
    return key, text[match.end():].strip()


def _value(line: Line, text: str) -> Any:
    """An inline value: flow collection, quoted scalar or plain scalar."""
    if text[0] == "[":
        return _flow_sequence(line, text)
    if text[0] == "{":
        if text.replace(" ", "") != "{}":
            raise YamlSubsetError(line.number, "flow mappings are not supported (only {})")
        return {}
    return _scalar(line, text)


def _scalar(line: Line, text: str) -> Any:
    if text[0] in "\"'":
        end = _quoted_end(line, text)
        if end != len(text):
            raise YamlSubsetError(line.number, f"text after a quoted scalar: {text[end:]!r}")
        return _quoted(line, text)
    return _plain(line, text)


def _quoted_end(line: Line, text: str) -> int:
    """Index just past the quoted scalar that starts ``text``."""
    quote = text[0]
    i = 1
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            if quote == "'" and text[i + 1:i + 2] == "'":
                i += 2
                continue
            return i + 1
        i += 1
    raise YamlSubsetError(line.number, "unterminated quoted scalar")


def _quoted(line: Line, text: str) -> str:
    body = text[1:-1]
    if text[0] == "'":
        return body.replace("''", "'")
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            escape = body[i + 1:i + 2]
            if escape not in DOUBLE_ESCAPES:
                raise YamlSubsetError(line.number, f"unsupported escape \\{escape}")
            out.append(DOUBLE_ESCAPES[escape])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _check_plain(line: Line, text: str) -> None:
    """Refuse plain scalars that start with an indicator, or that YAML 1.1 would read as non-strings."""
    if not text:
        raise YamlSubsetError(line.number, "empty plain scalar")
    first = text[0]
    if first in UNSUPPORTED_START:
        raise YamlSubsetError(line.number, f"{UNSUPPORTED_START[first]} are not supported: {text!r}")
    if first in INDICATOR_START or text.startswith(("- ", ": ")):
        raise YamlSubsetError(line.number, f"plain scalar starts with an indicator: {text!r}")
    if ": " in text or " #" in text:
        raise YamlSubsetError(line.number, f"ambiguous plain scalar, quote it: {text!r}")
    if text in YAML11_WORDS or (YAML11_NUMBERS.fullmatch(text) and not INT.fullmatch(text)) \
            or EXPONENT_ONLY.fullmatch(text) or text.lower().lstrip("+-") in SPECIAL_FLOATS:
        raise YamlSubsetError(line.number, f"YAML 1.1 and 1.2 read {text!r} differently: quote it")


def _plain(line: Line, text: str) -> Any:
    _check_plain(line, text)
    if text in NULLS:
        return None
    if text in BOOLS:
        return BOOLS[text]
    if INT.fullmatch(text):
        return int(text)
    if FLOAT.fullmatch(text):
        return float(text)
    return text


def _flow_sequence(line: Line, text: str) -> list[Any]:
    """``[a, "b", 3]``: scalars only, on one line."""
    if not text.endswith("]"):
        raise YamlSubsetError(line.number, "a flow sequence must end on its line with ']'")
    items: list[Any] = []
    rest = text[1:-1].strip()
    while rest:
        if rest[0] in "[{":
            raise YamlSubsetError(line.number, "nested flow collections are not supported")
        if rest[0] in "\"'":
            end = _quoted_end(line, rest)
            items.append(_quoted(line, rest[:end]))
        else:
            end = rest.find(",") if "," in rest else len(rest)
            items.append(_plain(line, rest[:end].strip()))
        rest = rest[end:].strip()
        if rest:
            if not rest.startswith(",") or not rest[1:].strip():
                raise YamlSubsetError(line.number, f"expected ',' between flow items: {text!r}")
            rest = rest[1:].strip()
    return items
