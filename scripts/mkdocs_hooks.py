"""MkDocs hook: show Sphinx roles in docstrings (:class:`X`, :meth:`y`) as plain code.

The docstrings follow Airflow's Sphinx style (the providers' own docs are built with
Sphinx); mkdocstrings renders the role name literally, so this drops it from the HTML.
"""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:class|meth|func|attr|exc|mod|data|obj|ref):(?=<code>)")


def on_page_content(html: str, **kwargs) -> str:
    return _ROLE.sub("", html)
