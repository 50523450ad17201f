"""Guards for the two places a spec carries SQL text: ``expression`` conditions and ``sql`` queries.

Those are written by the DAG author, so they are SQL by design; what the guard stops is text that
breaks out of the place it is put (``1=1) OR (1=1``, ``x > 0; DROP TABLE sales``, a comment that
swallows the rest of the query) or that is not a read (``INSERT``, ``SELECT ... INTO``, ``COPY``).
A small tokenizer skips string literals and quoted identifiers, so ``note = 'drop; me'`` is fine.
It is a guard against mistakes and injected template values, not a sandbox for hostile authors:
give the check connection a read-only database user as well.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
#: Words that make a statement something other than a read (``;`` is refused anyway, so these catch
#: ``SELECT ... INTO``, data-modifying ``WITH`` and the like).
_WRITE_WORDS = frozenset(
    "insert update delete merge drop create alter truncate grant revoke copy unload vacuum call "
    "execute into commit rollback begin lock".split()
)


def _scan(text: str) -> tuple[list[str], list[str]]:
    """Return (problems, words outside literals) and check quotes, comments, ``;`` and parentheses."""
    problems: list[str] = []
    words: list[str] = []
    depth = 0
    i, n = 0, len(text)
    semicolon_at: int | None = None
    while i < n:
        ch = text[i]
        if ch in "'\"":
            end = i + 1
            while True:
                end = text.find(ch, end)
                if end == -1:
                    problems.append(f"has an unterminated {'string' if ch == chr(39) else 'quoted name'}")
                    return problems, words
                if end + 1 < n and text[end + 1] == ch:  # doubled quote escapes itself
                    end += 2
                    continue
                break
            i = end + 1
            continue
        if text.startswith("--", i) or text.startswith("/*", i):
            problems.append("must not contain SQL comments ('--' or '/*')")
            i += 2
            continue
        if ch == "$" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            problems.append("must not contain dollar-quoted strings or '$' parameters")
            i += 1
            continue
        if ch == "\\":
            problems.append("must not contain backslashes outside string literals")
        if ch == ";":
            if semicolon_at is None:
                semicolon_at = i
        elif semicolon_at is not None and not ch.isspace():
            problems.append("must be a single statement (found ';' followed by more SQL)")
            semicolon_at = None
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                problems.append("closes a parenthesis it did not open")
                depth = 0
        match = _WORD.match(text, i) if (ch.isalpha() or ch == "_") else None
        if match:
            words.append(match.group(0).lower())
            i = match.end()
            continue
        i += 1
    if depth > 0:
        problems.append("has an unclosed parenthesis")
    if semicolon_at is not None:
        words.append(";")
    return problems, words


def fragment_problems(expression: str) -> list[str]:
    """Problems with a per-row boolean condition (used inside ``CASE WHEN NOT (<expression>)``)."""
    problems, words = _scan(expression)
    if ";" in words:
        problems.append("must be a condition, not a statement (remove the ';')")
    if "select" in words:
        problems.append("must be a per-row condition without sub-queries (use a 'sql' check for queries)")
    bad = sorted({w for w in words if w in _WRITE_WORDS})
    if bad:
        problems.append(f"must be a read-only condition (found {', '.join(w.upper() for w in bad)})")
    return problems


def select_problems(sql: str) -> list[str]:
    """Problems with a custom query: one ``SELECT``/``WITH`` statement, read-only, optional trailing ``;``."""
    problems, words = _scan(sql)
    words = [w for w in words if w != ";"]
    if not words or words[0] not in {"select", "with"}:
        problems.append("must be a single SELECT (or WITH ... SELECT) query")
    bad = sorted({w for w in words if w in _WRITE_WORDS})
    if bad:
        problems.append(f"must be a read-only query (found {', '.join(w.upper() for w in bad)})")
    return problems
