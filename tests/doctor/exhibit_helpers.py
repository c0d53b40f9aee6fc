"""Read the exhibits' ``# expect: rule [rule...]`` markers: the findings each line must give."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from tierline.doctor import Finding

EXHIBITS = Path(__file__).parent / "exhibits"
_EXPECT = re.compile(r"#\s*expect:\s*([a-z\- ]+)$")


def chain_path(exhibit: Path) -> Path:
    """What to give the doctor: the exhibit's alembic.ini, else its migrations/ folder."""
    ini = exhibit / "alembic.ini"
    return ini if ini.is_file() else exhibit / "migrations"


def expected(exhibit: Path) -> Counter[tuple[str, int, str]]:
    """(file name, line, rule) for every marker under ``exhibit``."""
    found: Counter[tuple[str, int, str]] = Counter()
    for path in exhibit.rglob("*.py"):
        for number, text in enumerate(path.read_text().splitlines(), start=1):
            match = _EXPECT.search(text)
            if match:
                for rule in match.group(1).split():
                    found[(path.name, number, rule)] += 1
    return found


def actual(findings: list[Finding]) -> Counter[tuple[str, int, str]]:
    return Counter((f.file.name, f.line, f.rule) for f in findings)
