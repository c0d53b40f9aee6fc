"""The static rules, one module per family; each rule is a function named after its rule."""

from __future__ import annotations

from tierline.doctor.rules.base import CheckContext, Rule
from tierline.doctor.rules.batch import alter_outside_batch, try_in_batch
from tierline.doctor.rules.columns import not_null_without_default
from tierline.doctor.rules.constraints import unnamed_constraint
from tierline.doctor.rules.downgrade import irreversible_downgrade
from tierline.doctor.rules.graph import broken_revision_link, multiple_heads
from tierline.doctor.rules.names import dialect_dependent_name, identifier_too_long
from tierline.doctor.rules.project import chain_not_run_from_empty

#: Every static rule by its stable name.
RULES: dict[str, Rule] = {
    "unnamed-constraint": unnamed_constraint,
    "alter-outside-batch": alter_outside_batch,
    "multiple-heads": multiple_heads,
    "broken-revision-link": broken_revision_link,
    "try-in-batch": try_in_batch,
    "irreversible-downgrade": irreversible_downgrade,
    "chain-not-run-from-empty": chain_not_run_from_empty,
    "not-null-without-default": not_null_without_default,
    "identifier-too-long": identifier_too_long,
    "dialect-dependent-name": dialect_dependent_name,
}

__all__ = ["RULES", "CheckContext", "Rule"]
