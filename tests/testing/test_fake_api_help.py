"""The fake API's ``--help`` says what every option does and its default (issue 26)."""

from __future__ import annotations

import re
import subprocess
import sys

from airflow_provider_human.docs_links import DOCS_URL

OPTIONS = ("--port", "--host", "--token", "--seed-file", "--latency-ms", "--rate-limit-rps", "--failure-rate",
           "--max-batch-size", "--port-file")  # fmt: skip


def _help() -> str:
    done = subprocess.run([sys.executable, "-m", "airflow_provider_human.testing.fake_api", "--help"],
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return done.stdout


def _entries(text: str) -> dict[str, str]:
    """Option -> its help text, from the ``options:`` section."""
    section = text.split("options:", 1)[1].split("\n\n")[0]
    entries: dict[str, str] = {}
    current = None
    for line in section.splitlines():
        match = re.match(r"^  (--[\w-]+)(?: [A-Z_]+)?\s*(.*)$", line)
        if match:
            current = match.group(1)
            entries[current] = match.group(2)
        elif current:
            entries[current] += " " + line.strip()
    return {k: " ".join(v.split()) for k, v in entries.items()}


def test_every_option_has_a_description_and_its_default():
    entries = _entries(_help())
    assert set(OPTIONS) <= set(entries)
    for option in OPTIONS:
        text = entries[option]
        assert len(text) > 20, (option, text)  # a description, not only the default
        assert re.search(r"\(default: [^)]+\)|\(required\)", text), (option, text)
    assert "(default: 8765)" in entries["--port"] and "(default: 127.0.0.1)" in entries["--host"]
    assert "(default: 0.0)" in entries["--failure-rate"] and "503" in entries["--failure-rate"]
    assert "0 = no limit (default: 0)" in entries["--max-batch-size"]
    assert "(default: None)" not in " ".join(entries.values())


def test_the_help_names_the_control_endpoints_page():
    assert f"{DOCS_URL}/fake-api/" in _help()
