"""Install a Debian package the tests need (PostgreSQL, Chromium) when it is missing.

Only as root with apt-get; anything else raises `PackageUnavailable` with the reason, and
the caller decides whether that skips or fails (CI makes it fail).
"""

from __future__ import annotations

import os
import shutil
import subprocess


class PackageUnavailable(RuntimeError):
    """The package is missing and could not be installed here."""


def apt_install(package: str) -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise PackageUnavailable(f"{package} is not installed and this user cannot apt-get install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise PackageUnavailable(f"{' '.join(command)} failed: {result.stderr[-500:]}")
