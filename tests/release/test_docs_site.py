"""The docs site (mkdocs.yml, built strict by ``make docs`` in ``make test``) lists every page, and its
reference covers every public Airflow component with every parameter documented.

mkdocs reports a page missing from the nav only as information (so a new page never breaks the
build); this test names it instead. mkdocstrings warns about a documented parameter that does not
exist; this test adds the other direction: a parameter that has no ``:param:`` line.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
CONFIG = yaml.safe_load((REPO / "mkdocs.yml").read_text())
REFERENCE = "\n".join(p.read_text() for p in sorted((DOCS / "reference").glob("*.md")))
COMPONENT_PACKAGES = ("operators", "sensors", "notifications", "hooks", "triggers")


def _nav_pages(nav) -> list[str]:
    pages = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages.extend(_nav_pages(value) if isinstance(value, list) else [value])
    return pages


NAV = _nav_pages(CONFIG["nav"])


def _components() -> list[type]:
    from airflow_sales_provider.compat import BaseHook, BaseNotifier, BaseOperator, BaseTrigger

    bases = (BaseHook, BaseNotifier, BaseOperator, BaseTrigger)
    found = {}
    for package in COMPONENT_PACKAGES:
        root = importlib.import_module(f"airflow_sales_provider.{package}")
        for info in pkgutil.iter_modules(root.__path__):
            module = importlib.import_module(f"{root.__name__}.{info.name}")
            for name, obj in vars(module).items():
                public = not name.startswith("_") and getattr(obj, "__module__", None) == module.__name__
                if public and inspect.isclass(obj) and issubclass(obj, bases):
                    found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[k] for k in sorted(found)]


COMPONENTS = _components()


def test_every_docs_page_is_in_the_nav():
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    missing = [page for page in pages if page not in NAV]
    assert missing == [], f"add these pages to mkdocs.yml's nav: {missing}"


def test_every_nav_entry_is_a_page():
    assert [page for page in NAV if not (DOCS / page).is_file()] == []
    assert len(NAV) == len(set(NAV)), "a page is listed twice"


def test_the_changelog_page_shows_the_changelog():
    assert (DOCS / "changelog.md").read_text().strip() == '--8<-- "CHANGELOG.md"'


def test_the_quickstart_is_the_readmes():
    readme = (REPO / "README.md").read_text()
    section = re.search(
        r"<!-- --8<-- \[start:quickstart\] -->\n(.*)<!-- --8<-- \[end:quickstart\] -->", readme, re.S
    )
    assert section and "make demo" in section.group(1) and "make test" in section.group(1)
    assert '--8<-- "README.md:quickstart"' in (DOCS / "quickstart.md").read_text()


def test_there_are_components_to_document():
    names = {c.__name__ for c in COMPONENTS}
    assert {"RedshiftLoadOperator", "S3ArrivalSensor", "SlackNotifier", "AthenaReportTrigger"} <= names


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.__name__)
def test_every_component_has_a_reference_entry(component: type):
    assert f"::: {component.__module__}.{component.__qualname__}\n" in REFERENCE + "\n"


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.__name__)
def test_every_parameter_is_documented(component: type):
    docstring = inspect.getdoc(component) or ""
    parameters = [
        name
        for name, p in inspect.signature(component.__init__).parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    undocumented = [name for name in parameters if f":param {name}:" not in docstring]
    assert undocumented == [], f"{component.__name__}: no ':param ...:' line for {undocumented}"
