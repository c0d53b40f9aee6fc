"""Reading and validating catalog TOML: pure, no database."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tierline.catalog.config import (
    CatalogError,
    CatalogProblem,
    check_catalog,
    load_catalog,
    parse_catalog,
    validate_catalog,
)
from tierline.catalog.models import LimitPeriod
from tierline.catalog.spec import Catalog, LimitSpec, RewardRecipient, TierSpec
from tierline.errors import ConfigurationError

EXAMPLE = Path(__file__).parents[2] / "examples" / "catalog" / "tierline.toml"

BRIEF_SHAPE = """
[catalog]
free_tier = "free"
credit_tier = "pro"

[features]
dashboard = "Dashboard"
analyze = "AI analysis"
batches = "Batches"

[tiers.free]
name = "Free"
exempt = true
features = ["dashboard"]

[tiers.pro]
name = "Pro"
seats = 5
fallback_price = "$19/mo"
features = ["dashboard", "analyze"]
limits = { batches = { limit = 100, period = "month" } }
providers = { stripe = ["pro_monthly", "pro_yearly"], paddle = "pro" }

[referrals]
reward_days = 30
reward = "both"
stripe_coupon = "REFERRAL50"
"""

# A valid base that each problem case below breaks in one place.
BASE = """
[features]
dashboard = "Dashboard"
batches = "Batches"

[tiers.free]
name = "Free"
exempt = true
features = ["dashboard"]

[tiers.pro]
name = "Pro"
features = ["dashboard"]
providers = { stripe = "pro_monthly" }
"""


def problems_of(text: str) -> list[CatalogProblem]:
    return validate_catalog(tomllib.loads(text))


def test_the_documented_shape_parses_into_the_spec() -> None:
    catalog = parse_catalog(BRIEF_SHAPE)

    assert list(catalog.tiers) == ["free", "pro"]
    assert catalog.features == {
        "dashboard": "Dashboard",
        "analyze": "AI analysis",
        "batches": "Batches",
    }
    assert catalog.free_tier == "free"
    assert catalog.credit_tier == "pro"
    pro = catalog.tiers["pro"]
    assert pro == TierSpec(
        key="pro",
        name="Pro",
        seats=5,
        fallback_price="$19/mo",
        sort_order=1,
        features=("dashboard", "analyze"),
        limits={"batches": LimitSpec(100, LimitPeriod.MONTH)},
        # A list stays a list; a single key becomes a one-item tuple.
        providers={"stripe": ("pro_monthly", "pro_yearly"), "paddle": ("pro",)},
    )
    free = catalog.tiers["free"]
    assert (free.exempt, free.customer_facing, free.seats, free.sort_order) == (True, True, 1, 0)
    assert catalog.referrals.reward_days == 30
    assert catalog.referrals.reward_to is RewardRecipient.BOTH
    assert catalog.referrals.stripe_coupon == "REFERRAL50"


def test_the_shipped_example_catalog_is_valid() -> None:
    catalog = load_catalog(EXAMPLE)
    assert set(catalog.tiers) == {"free", "pro", "team", "staff"}
    assert catalog.tiers["staff"].customer_facing is False
    assert catalog.tiers["staff"].sort_order == 100


def test_defaults_free_tier_keyed_free_and_credit_tier_highest_paid_sort_order() -> None:
    catalog = parse_catalog(
        """
        [tiers.free]
        name = "Free"
        exempt = true
        [tiers.team]
        name = "Team"
        sort_order = 20
        providers = { fake = "team" }
        [tiers.pro]
        name = "Pro"
        sort_order = 10
        providers = { fake = "pro" }
        [tiers.staff]
        name = "Staff"
        exempt = true
        sort_order = 99
        """
    )
    assert catalog.free_tier == "free"
    # staff sorts last but is exempt, so it is not a paid tier.
    assert catalog.credit_tier == "team"
    assert catalog.referrals.enabled is False


def test_without_a_free_tier_or_features_table() -> None:
    catalog = parse_catalog(
        '[tiers.pro]\nname = "Pro"\nfeatures = ["anything"]\nproviders = { stripe = "p" }\n'
    )
    assert catalog.free_tier is None
    assert catalog.credit_tier == "pro"
    assert catalog.features == {}


def test_paid_tier_hidden_from_customers_needs_no_provider_link() -> None:
    catalog = parse_catalog('[tiers.partner]\nname = "Partner"\ncustomer_facing = false\n')
    assert catalog.tiers["partner"].exempt is False


@pytest.mark.parametrize(
    ("edit", "path", "fragment"),
    [
        ('[tiers.Pro2]\nname = "x"\nexempt = true\n', "tiers.Pro2", "tier key 'Pro2' is not valid"),
        ("[unknown]\n", "unknown", "unknown top-level table 'unknown'"),
        ("[catalog]\nfree_tiers = 'free'\n", "catalog.free_tiers", "unknown [catalog] field"),
        ('[tiers.x]\nname = "X"\nexempt = true\nseat = 2\n', "tiers.x.seat", "unknown tier field"),
        ('[tiers.x]\nname = "X"\nexempt = true\nretired = true\n', "tiers.x.retired", "sync"),
        ('[tiers.x]\nname = "X"\nexempt = true\nseats = "5"\n', "tiers.x.seats", "an integer"),
        ('[tiers.x]\nname = "X"\nexempt = true\nseats = true\n', "tiers.x.seats", "an integer"),
        ('[tiers.x]\nname = "X"\nexempt = true\nseats = 0\n', "tiers.x.seats", "at least 1"),
        ('[tiers.x]\nname = "X"\nexempt = "yes"\n', "tiers.x.exempt", "true or false"),
        ("[tiers.x]\nexempt = true\n", "tiers.x.name", "missing"),
        ('[tiers.x]\nname = "X"\n', "tiers.x.providers", "needs a provider link"),
        (
            '[tiers.x]\nname = "X"\nexempt = true\nfeatures = ["dashbord"]\n',
            "tiers.x.features",
            "unknown feature 'dashbord'; declared in [features]: batches, dashboard",
        ),
        (
            '[tiers.x]\nname = "X"\nexempt = true\nfeatures = "dashboard"\n',
            "tiers.x.features",
            "list of feature keys",
        ),
        (
            '[tiers.x]\nname = "X"\nexempt = true\nlimits = { seats = { limit = 1 } }\n',
            "tiers.x.limits.seats",
            "unknown feature 'seats'",
        ),
        (
            '[tiers.x]\nname = "X"\nproviders = { stripes = "x" }\n',
            "tiers.x.providers.stripes",
            "unknown provider 'stripes'; known providers: stripe, paddle",
        ),
        (
            '[tiers.x]\nname = "X"\nproviders = { stripe = "pro_monthly" }\n',
            "tiers.x.providers.stripe",
            "stripe:pro_monthly is already linked to tier 'pro'",
        ),
        (
            '[tiers.x]\nname = "X"\nproviders = { stripe = "PRO_monthly" }\n',
            "tiers.x.providers.stripe",
            "stripe:PRO_monthly is already linked to tier 'pro'",
        ),
        (
            '[tiers.x]\nname = "X"\nproviders = { paddle = ["a", "a"] }\n',
            "tiers.x.providers.paddle",
            "'a' is listed twice",
        ),
        (
            '[tiers.x]\nname = "X"\nproviders = { paddle = 7 }\n',
            "tiers.x.providers.paddle",
            "an external key or a list of them",
        ),
        (
            '[tiers.x]\nname = "X"\nexempt = true\n'
            'limits = { batches = { limit = 5, period = "week" } }\n',
            "tiers.x.limits.batches.period",
            "'week' is not one of day, month, none",
        ),
        (
            '[tiers.x]\nname = "X"\nexempt = true\nlimits = { batches = { limit = -1 } }\n',
            "tiers.x.limits.batches.limit",
            "0 or more, got -1",
        ),
        (
            '[tiers.x]\nname = "X"\nexempt = true\nlimits = { batches = 5 }\n',
            "tiers.x.limits.batches",
            "must be a table",
        ),
        ('[catalog]\nfree_tier = "gratis"\n', "catalog.free_tier", "'gratis' is not a tier"),
        ('[catalog]\nfree_tier = "pro"\n', "tiers.pro.exempt", "must be exempt"),
        ('[catalog]\ncredit_tier = "gold"\n', "catalog.credit_tier", "tiers: free, pro"),
        ('[referrals]\nreward = "everyone"\n', "referrals.reward", "referrer, referred, both"),
        ("[referrals]\nreward_days = -3\n", "referrals.reward_days", "0 or more"),
        ("[referrals]\nrewards = 'both'\n", "referrals.rewards", "unknown [referrals] field"),
    ],
)
def test_each_problem_names_its_tier_and_field(edit: str, path: str, fragment: str) -> None:
    problems = problems_of(BASE + edit)

    assert [p.path for p in problems] == [path], problems
    assert fragment in problems[0].message


@pytest.mark.parametrize(
    ("line", "path", "fragment"),
    [
        ("Bad = 'Bad'", "features.Bad", "feature key 'Bad' is not valid"),
        ("export = 3", "features.export", "display name"),
    ],
)
def test_each_feature_problem_names_the_feature(line: str, path: str, fragment: str) -> None:
    problems = problems_of(BASE.replace("[features]\n", f"[features]\n{line}\n"))

    assert [p.path for p in problems] == [path], problems
    assert fragment in problems[0].message


def test_a_default_free_tier_must_be_exempt_too() -> None:
    problems = problems_of('[tiers.free]\nname = "Free"\ncustomer_facing = false\n')
    assert [str(p) for p in problems] == [
        "tiers.free.exempt: tier 'free' is the free tier, so it must be exempt: set exempt = "
        "true, or name another tier with [catalog] free_tier"
    ]


def test_a_file_without_tiers_is_a_problem() -> None:
    assert [p.path for p in problems_of("[features]\na = 'A'\n")] == ["tiers"]


def test_every_problem_is_reported_at_once() -> None:
    text = """
    [catalog]
    free_tier = "nope"
    [features]
    dashboard = "Dashboard"
    [tiers.pro]
    name = "Pro"
    seats = 0
    features = ["dashbord"]
    providers = { strip = "pro" }
    colour = "blue"
    [tiers.team]
    seats = "many"
    exempt = true
    [referrals]
    reward = "all"
    """
    problems = problems_of(text)

    assert sorted(p.path for p in problems) == sorted(
        [
            "catalog.free_tier",
            "tiers.pro.seats",
            "tiers.pro.features",
            "tiers.pro.providers.strip",
            "tiers.pro.colour",
            "tiers.team.name",
            "tiers.team.seats",
            "referrals.reward",
        ]
    )
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "prices.toml")
    assert caught.value.problems == problems
    message = str(caught.value)
    assert message.startswith("catalog prices.toml has 8 problems:\n")
    for problem in problems:
        assert f"  {problem}" in message.splitlines()


def test_a_wrong_type_is_not_reported_twice() -> None:
    # providers given as a string: one problem, not also "needs a provider link".
    problems = problems_of(BASE + '[tiers.x]\nname = "X"\nproviders = "stripe"\n')
    assert [p.path for p in problems] == ["tiers.x.providers"]


def test_toml_syntax_error_names_source_line_and_message() -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog('[tiers.pro]\nname = "Pro"\nseats = = 5\n', "tierline.toml")
    message = str(caught.value)
    assert message.startswith("catalog tierline.toml: line 3, column 9: invalid TOML: ")
    assert isinstance(caught.value, ConfigurationError)


def test_load_catalog_names_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(CatalogError, match=r"catalog file .*nope\.toml does not exist") as caught:
        load_catalog(missing)
    assert "\n" not in str(caught.value)
    assert caught.value.problems == []


def test_load_catalog_reads_a_file_and_names_it_in_problems(tmp_path: Path) -> None:
    path = tmp_path / "tiers.toml"
    path.write_text('[tiers.pro]\nname = "Pro"\n', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"tiers.toml: tiers.pro.providers: a paid"):
        load_catalog(path)


def test_check_catalog_applies_the_rules_to_a_catalog_built_in_code() -> None:
    catalog = Catalog(
        tiers={
            "pro": TierSpec(
                key="pro",
                name="Pro",
                seats=0,
                providers={"stripe": ("a",)},
                limits={"runs": LimitSpec(-2)},
            ),
            "max": TierSpec(key="max", name="Max", providers={"stripe": ("a",)}),
        },
        credit_tier="gold",
    )
    assert sorted(str(p) for p in check_catalog(catalog)) == [
        "catalog.credit_tier: credit_tier 'gold' is not a tier; tiers: pro, max",
        "tiers.max.providers.stripe: external key stripe:a is already linked to tier 'pro'",
        "tiers.pro.limits.runs.limit: limit must be 0 or more, got -2",
        "tiers.pro.seats: seats must be at least 1, got 0",
    ]
    assert check_catalog(Catalog()) == [
        CatalogProblem("tiers", "no tiers declared; add at least one [tiers.<key>] table")
    ]
