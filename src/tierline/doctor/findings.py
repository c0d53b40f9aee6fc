"""What the doctor reports: findings as plain data, and the dialects a rule can be about."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from tierline.errors import TierlineError


class Severity(StrEnum):
    """``error`` breaks a database (exit code 1); ``warning`` is a risk worth a look."""

    ERROR = "error"
    WARNING = "warning"


#: The dialects a chain can be checked for; ``mariadb`` is an alias of ``mysql``.
DIALECTS: frozenset[str] = frozenset({"sqlite", "postgresql", "mysql"})
DIALECT_ALIASES: dict[str, str] = {"mariadb": "mysql", "postgres": "postgresql"}


def parse_dialects(text: str) -> frozenset[str]:
    """``"sqlite,postgresql"`` → ``{"sqlite", "postgresql"}``.

    Raises ValueError naming the unknown dialect and the valid ones.
    """
    chosen: set[str] = set()
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        name = DIALECT_ALIASES.get(name, name)
        if name not in DIALECTS:
            valid = ", ".join(sorted(DIALECTS | DIALECT_ALIASES.keys()))
            raise ValueError(f"unknown dialect {raw.strip()!r}; valid: {valid}")
        chosen.add(name)
    if not chosen:
        raise ValueError(f"no dialect given in {text!r}; valid: {', '.join(sorted(DIALECTS))}")
    return frozenset(chosen)


@dataclass(frozen=True, slots=True)
class Finding:
    """One fault: where it is (``file``, 1-based ``line``), which ``rule`` found it, and the fix.

    ``message`` names the offending call; ``fix`` says what to write instead.
    """

    rule: str
    file: Path
    line: int
    severity: Severity
    message: str
    fix: str

    def as_dict(self) -> dict[str, str | int]:
        """The JSON shape: ``rule``, ``file``, ``line``, ``severity``, ``message``, ``fix``."""
        return {
            "rule": self.rule,
            "file": str(self.file),
            "line": self.line,
            "severity": self.severity.value,
            "message": self.message,
            "fix": self.fix,
        }


class DoctorError(TierlineError):
    """The chain cannot be checked at all: the path is missing, a file does not parse.

    The CLI prints it as one ``error:`` line with exit code 2.
    """
