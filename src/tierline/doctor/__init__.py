"""Doctor: find the migration faults of a host app's Alembic chain (needs no Tierline table).

The static pass (:func:`check_chain`) reads the revision files and runs nothing; the dynamic
pass (:mod:`tierline.doctor.dynamic`) runs the chain on scratch databases. Both return
:class:`Finding` objects; :func:`assert_chain_healthy` fails a host app's test on any error.
"""

from __future__ import annotations

from tierline.doctor.findings import DIALECTS, DoctorError, Finding, Severity, parse_dialects
from tierline.doctor.health import assert_chain_healthy
from tierline.doctor.static import check_chain

__all__ = [
    "DIALECTS",
    "DoctorError",
    "Finding",
    "Severity",
    "assert_chain_healthy",
    "check_chain",
    "parse_dialects",
]
