"""Messages point at the documentation site's pages, and every link names a page and heading that exist.

A task log is read where the wheel is installed, not a clone: ``docs/reconciliation.md`` is
a path nowhere on that disk (issue 26).
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from airflow_provider_human.docs_links import DOCS_URL

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "airflow_provider_human"
SOURCES = sorted(PACKAGE.rglob("*.py"))


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _strings(path: Path) -> list[tuple[int, str]]:
    """The string constants of ``path`` that are not docstrings: what messages are made of."""
    tree = ast.parse(path.read_text())
    skip = _docstrings(tree)
    return [
        (n.lineno, n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip
    ]


def test_no_message_cites_a_repository_path():
    cited = [
        f"{path.relative_to(REPO)}:{line}: {text!r}"
        for path in SOURCES
        for line, text in _strings(path)
        if re.search(r"\b[\w-]+\.md\b", text)
    ]
    assert cited == []


def _slug(heading: str) -> str:  # Python-Markdown's toc slugify, as mkdocs builds the anchors
    text = re.sub(r"[^\w\s-]", "", heading.strip().lower())
    return re.sub(r"[-\s]+", "-", text).strip("-")


def _links() -> list[tuple[str, str, str | None]]:
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "docs_link":
                args = [a.value for a in node.args if isinstance(a, ast.Constant)]
                assert len(args) == len(node.args), f"{path}:{node.lineno}: docs_link with a computed argument"
                found.append((f"{path.name}:{node.lineno}", args[0], args[1] if len(args) > 1 else None))
    return found


@pytest.mark.parametrize(("where", "page", "anchor"), _links())
def test_every_link_names_a_page_and_a_heading_that_exist(where, page, anchor):
    doc = REPO / "docs" / f"{page}.md"
    assert doc.is_file(), where
    if anchor:
        headings = {_slug(m) for m in re.findall(r"^#+\s+(.+)$", doc.read_text(), flags=re.M)}
        assert anchor in headings, where


def test_the_site_url_is_the_one_in_the_metadata_and_mkdocs():
    mkdocs = re.search(r"^site_url:\s*(\S+)", (REPO / "mkdocs.yml").read_text(), flags=re.M)
    assert mkdocs and mkdocs.group(1).rstrip("/") == DOCS_URL
    urls = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]
    assert urls["Documentation"].rstrip("/") == DOCS_URL
