"""docs/redshift-load.md shows the example DAG's code exactly (include markers)."""

from __future__ import annotations

from tests.doc_snippets import assert_page_includes


def test_included_snippets_match_the_example_dag():
    assert_page_includes(
        "redshift-load.md", ["howto_redshift_load_replace_partition", "howto_redshift_load_upsert"]
    )
