"""Every code block a docs page includes by marker is the example's current code (tests/doc_snippets.py)."""

from __future__ import annotations

import pytest

from tests.doc_snippets import Include, all_doc_includes, assert_include_matches

INCLUDES = all_doc_includes()


def test_the_docs_include_example_code():
    assert len(INCLUDES) >= 10


@pytest.mark.parametrize("include", INCLUDES, ids=[f"{i.page}:{i.marker}" for i in INCLUDES])
def test_included_code_is_the_examples(include: Include):
    assert_include_matches(include)


def test_a_changed_snippet_is_caught():
    first = INCLUDES[0]
    with pytest.raises(AssertionError, match=first.marker):
        assert_include_matches(first._replace(snippet=first.snippet + "\nextra = 1"))
