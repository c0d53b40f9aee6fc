"""Ignore comments: ``# doctor: ignore[rule, other-rule] because <reason>``.

The comment silences the named rules on its own line or on the line below it. A reason is
required; an ignore without one (or naming an unknown rule) silences nothing and is reported
as ``invalid-ignore``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tierline.doctor.findings import Finding, Severity

INVALID_IGNORE = "invalid-ignore"

_IGNORE = re.compile(r"#\s*doctor:\s*ignore\[([^\]]*)\](.*)$")
_REASON = re.compile(r"^\s*because\s+\S")


@dataclass(frozen=True, slots=True)
class Ignore:
    line: int
    rules: frozenset[str]
    valid: bool


def read_ignores(source: str) -> list[Ignore]:
    """The ignore comments of one file (a cheap text scan: only lines mentioning ``doctor:``)."""
    if "doctor:" not in source:
        return []
    found: list[Ignore] = []
    for number, text in enumerate(source.splitlines(), start=1):
        match = _IGNORE.search(text)
        if match is None:
            continue
        rules = frozenset(r.strip() for r in match.group(1).split(",") if r.strip())
        found.append(Ignore(number, rules, bool(_REASON.match(match.group(2)))))
    return found


def apply_ignores(findings: Iterable[Finding], known_rules: frozenset[str]) -> list[Finding]:
    """``findings`` without the ignored ones, plus one ``invalid-ignore`` per bad comment."""
    cache: dict[Path, list[Ignore]] = {}
    kept: list[Finding] = []
    for item in findings:
        ignores = _ignores_of(item.file, cache)
        if any(
            ig.valid and item.rule in ig.rules and item.line in (ig.line, ig.line + 1)
            for ig in ignores
        ):
            continue
        kept.append(item)
    for path, ignores in cache.items():
        for ig in ignores:
            unknown = sorted(ig.rules - known_rules)
            if ig.valid and not unknown and ig.rules:
                continue
            problem = (
                f"names unknown rule(s) {', '.join(unknown)}"
                if unknown or not ig.rules
                else "gives no reason"
            )
            kept.append(
                Finding(
                    rule=INVALID_IGNORE,
                    file=path,
                    line=ig.line,
                    severity=Severity.ERROR,
                    message=f"doctor: ignore[{', '.join(sorted(ig.rules))}] {problem}; it silences "
                    "nothing",
                    fix="write '# doctor: ignore[<rule>] because <why this is safe>' with a rule "
                    f"name from: {', '.join(sorted(known_rules))}",
                )
            )
    return kept


def _ignores_of(path: Path, cache: dict[Path, list[Ignore]]) -> list[Ignore]:
    found = cache.get(path)
    if found is None:
        try:
            found = read_ignores(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            found = []
        cache[path] = found
    return found
