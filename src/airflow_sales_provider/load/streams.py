"""Byte streams of a load, pure: gunzip on the fly, JSON lines to COPY text, lines and chunks.

No Airflow and no I/O of its own: :class:`~airflow_sales_provider.hooks.warehouse.S3SourceHook` hands
these an S3 body and the load hook hands the result to ``COPY ... FROM STDIN``. Memory stays at a chunk.
"""

from __future__ import annotations

import io
import json
import re
import zlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

CHUNK_BYTES = 1024 * 1024


class GunzipStream(io.RawIOBase):
    """Decompress a (possibly multi-member) gzip stream chunk by chunk; memory stays at one chunk."""

    def __init__(self, body: Any) -> None:
        self._body = body
        self._decompressor = zlib.decompressobj(wbits=31)
        self._buffer = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = CHUNK_BYTES if size is None or size < 0 else size
        while len(self._buffer) < size and not self._eof:
            chunk = self._body.read(CHUNK_BYTES)
            if not chunk:
                self._buffer += self._decompressor.flush()
                self._eof = True
                break
            data = self._decompressor.decompress(chunk)
            while self._decompressor.eof and self._decompressor.unused_data:  # next gzip member
                rest = self._decompressor.unused_data
                self._decompressor = zlib.decompressobj(wbits=31)
                data += self._decompressor.decompress(rest)
            self._buffer += data
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def close(self) -> None:
        self._body.close()
        super().close()


# -- JSON lines -> PostgreSQL text COPY format -------------------------------------------------------------
class JsonLinesError(ValueError):
    """A line of a JSON file is not a JSON object (carries the 1-based line number)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


_PATH_TOKEN = re.compile(r"\.([A-Za-z_$][\w$]*)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]|\[\s*(\d+)\s*\]")


def compile_json_path(path: str) -> list[str | int]:
    """Parse a Redshift jsonpaths expression (``$.a.b``, ``$['a'][0]``) into steps."""
    if not isinstance(path, str) or not path.startswith("$"):
        raise ValueError(f"jsonpath {path!r} must start with '$'")
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        match = _PATH_TOKEN.match(path, pos)
        if not match:
            raise ValueError(
                f"jsonpath {path!r} is not supported at position {pos}: use $.a.b, $['a'] or $.a[0]"
            )
        name, single, double, index = match.groups()
        steps.append(int(index) if index is not None else (name or single or double or ""))
        pos = match.end()
    return steps


def _extract(document: Any, steps: Sequence[str | int]) -> Any:
    for step in steps:
        if isinstance(step, int):
            if not isinstance(document, list) or step >= len(document):
                return None
        elif not isinstance(document, dict):
            return None
        document = document[step] if isinstance(step, int) else document.get(step)
        if document is None:
            return None
    return document


def _text_field(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def json_lines_to_copy_text(
    lines: Iterable[bytes], columns: Sequence[str], json_paths: Sequence[str] | None = None
) -> Iterator[bytes]:
    """Convert JSON lines to PostgreSQL text COPY rows, one output line per input object.

    With ``json_paths`` (one expression per column, in column order), values are extracted by path;
    otherwise by field name (exact, then case-insensitive), as Redshift's ``'auto'`` does.
    Blank lines are skipped; a line that is not a JSON object raises :class:`JsonLinesError`.
    """
    compiled = [compile_json_path(p) for p in json_paths] if json_paths is not None else None
    lowered = [c.lower() for c in columns]
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise JsonLinesError(number, f"invalid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise JsonLinesError(number, f"expected a JSON object, got {type(document).__name__}")
        if compiled is not None:
            values = [_extract(document, steps) for steps in compiled]
        else:
            folded = (
                {k.lower(): v for k, v in document.items()}
                if any(c not in document for c in columns)
                else None
            )
            values = [
                document[c] if c in document else (folded or {}).get(low)
                for c, low in zip(columns, lowered, strict=True)
            ]
        yield ("\t".join(_text_field(v) for v in values) + "\n").encode()


class IterStream(io.RawIOBase):
    """A read()-able stream over an iterator of byte chunks (what COPY FROM STDIN consumes)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        #: the exception the iterator raised (drivers wrap exceptions raised inside COPY's read()).
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = CHUNK_BYTES if size is None or size < 0 else size
        parts = [self._buffer]
        have = len(self._buffer)
        while have < size:
            try:
                chunk = next(self._chunks, None)
            except Exception as exc:
                self.error = exc
                raise
            if chunk is None:
                break
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        out, self._buffer = data[:size], data[size:]
        return out


def iter_lines(stream: Any) -> Iterator[bytes]:
    """Lines of a binary stream, read a chunk at a time."""
    pending = b""
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            break
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from complete
    if pending:
        yield pending
