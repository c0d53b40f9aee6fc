"""Findings as JSON and as SARIF 2.1.0 (for code-scanning), with paths relative to a base folder.

SARIF shape per the OASIS SARIF 2.1.0 standard: ``runs[0].tool.driver`` names the tool and its
``rules``; each result has ``ruleId``, ``level`` (``error``/``warning``), ``message.text`` and a
``physicalLocation`` with ``artifactLocation.uri`` (relative, ``/``-separated) and
``region.startLine`` (1-based).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tierline.doctor.findings import Finding

#: Rules that are not static rule functions, with what they report.
EXTRA_RULES: dict[str, str] = {
    "invalid-ignore": "An ignore comment without a reason, or naming an unknown rule.",
    "revision-fails": "A revision fails on a real database (upgrade, downgrade or re-upgrade).",
    "model-drift": "The migrated schema differs from the app's models.",
}


def rule_descriptions() -> dict[str, str]:
    """Every rule name with a one-line description (from the rule functions' docstrings)."""
    from tierline.doctor.rules import RULES

    described = {
        name: (rule.__doc__ or name).strip().splitlines()[0] for name, rule in RULES.items()
    }
    return described | EXTRA_RULES


def display_path(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when it lies below it, ``/``-separated."""
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def as_json(findings: Sequence[Finding], base: Path) -> list[dict[str, Any]]:
    """A list of ``{rule, file, line, severity, message, fix}`` objects."""
    rows: list[dict[str, Any]] = []
    for item in findings:
        row: dict[str, Any] = item.as_dict()
        row["file"] = display_path(item.file, base)
        rows.append(row)
    return rows


def as_sarif(findings: Sequence[Finding], base: Path, version: str) -> dict[str, Any]:
    """A minimal valid SARIF 2.1.0 log with one run."""
    descriptions = rule_descriptions()
    names = sorted(descriptions)
    index = {name: i for i, name in enumerate(names)}
    rules = [
        {"id": name, "name": name, "shortDescription": {"text": descriptions[name]}}
        for name in names
    ]
    results = [
        {
            "ruleId": item.rule,
            "ruleIndex": index[item.rule],
            "level": item.severity.value,
            "message": {"text": f"{item.message}. Fix: {item.fix}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": display_path(item.file, base)},
                        "region": {"startLine": max(item.line, 1)},
                    }
                }
            ],
        }
        for item in findings
        if item.rule in index
    ]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "tierline-doctor",
                        "version": version,
                        "informationUri": "https://pypi.org/project/tierline/",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
