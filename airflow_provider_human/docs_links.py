"""Where the documentation site lives, so error messages link a page instead of a repository path.

A user who meets an error in a task log has the installed wheel, not a clone: a path such
as ``docs/reconciliation.md`` is nowhere on their disk. mkdocs.yml's ``site_url`` and
pyproject.toml's ``Documentation`` URL carry the same address (a test keeps them equal).
"""

from __future__ import annotations

#: The published documentation site (mkdocs.yml ``site_url``, without the trailing slash).
DOCS_URL = "https://airflow-provider-human.readthedocs.io/en/latest"


def docs_link(page: str, anchor: str | None = None) -> str:
    """``docs_link("postgres", "required-grants")`` -> ``<DOCS_URL>/postgres/#required-grants``."""
    return f"{DOCS_URL}/{page}/" + (f"#{anchor}" if anchor else "")
