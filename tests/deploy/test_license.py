"""The LICENSE file is the license pyproject.toml declares, in full."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_license_is_the_full_apache_2_text_that_pyproject_names() -> None:
    assert (
        tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"] == "Apache-2.0"
    )
    text = " ".join((REPO / "LICENSE").read_text().split())
    assert text.startswith("Apache License Version 2.0, January 2004")
    for section in (
        "1. Definitions.",
        "4. Redistribution.",
        "9. Accepting Warranty or Additional Liability.",
    ):
        assert section in text
    assert (
        "END OF TERMS AND CONDITIONS" in text
        and "APPENDIX: How to apply the Apache License" in text
    )
