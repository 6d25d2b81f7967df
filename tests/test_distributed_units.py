"""The parts of clankers.distributed that need no Ray running: statistics, sweep parameters, env slices."""

from __future__ import annotations

import itertools
import math

import pytest

from clankers.distributed.env_worker import slice_bounds
from clankers.distributed.evaluation import _ranges, mean_ci, t_quantile, wilson_interval
from clankers.distributed.sweep import ParamSpec, parse_param
from clankers.errors import ConfigError


@pytest.mark.parametrize(
    ("dof", "expected"),  # two-sided 95% critical values of Student's t (standard tables)
    [
        (1, 12.706),
        (2, 4.303),
        (3, 3.182),
        (5, 2.571),
        (9, 2.262),
        (19, 2.093),
        (30, 2.042),
        (1000, 1.962),
        (5000, 1.9604),
    ],
)
def test_t_quantile_matches_the_tables(dof: int, expected: float) -> None:
    assert t_quantile(0.975, dof) == pytest.approx(expected, abs=6e-4)
    assert t_quantile(0.025, dof) == pytest.approx(-expected, abs=6e-4)


def test_mean_ci_and_wilson_interval() -> None:
    low, high = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    half = 2.262 * math.sqrt(sum((x - 5.5) ** 2 for x in range(1, 11)) / 9) / math.sqrt(10)
    assert (low, high) == pytest.approx((5.5 - half, 5.5 + half), abs=1e-2)
    assert mean_ci([3.0]) == (3.0, 3.0)
    # Wilson: 0 of 10 successes still has a non-zero upper bound; 10 of 10 a lower bound below 1.
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-3)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-3)
    assert wilson_interval(50, 100) == pytest.approx((0.4038, 0.5962), abs=1e-3)


def test_parse_param() -> None:
    assert parse_param("learning_rate=loguniform(1e-4,1e-3)") == ParamSpec(
        "learning_rate", "loguniform", (1e-4, 1e-3)
    )
    assert parse_param(" n_epochs = randint(3, 11) ") == ParamSpec("n_epochs", "randint", (3, 11))
    assert parse_param("batch_size=choice(32,64,128)") == ParamSpec("batch_size", "choice", (32, 64, 128))
    assert parse_param("gamma=0.98") == ParamSpec("gamma", "value", (0.98,))
    assert parse_param("net_arch=[32,32]") == ParamSpec("net_arch", "value", ([32, 32],))
    assert (
        str(parse_param("learning_rate=loguniform(1e-4,1e-3)")) == "learning_rate=loguniform(0.0001, 0.001)"
    )


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("learning_rate", "NAME=DISTRIBUTION"),
        ("learning_rate=normal(0,1)", "unknown distribution 'normal'"),
        ("learning_rate=loguniform(0,1e-3)", "low > 0"),
        ("learning_rate=uniform(2,1)", "low < high"),
        ("n_epochs=randint(1.5,3)", "integers"),
        ("learning_rate=uniform(1)", "takes 2 numbers"),
        ("x=choice()", "at least one value"),
    ],
)
def test_parse_param_errors_name_the_problem(spec: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_param(spec)


def test_slices_cover_every_env_once_in_order() -> None:
    for n in range(1, 40):
        for k in range(1, n + 1):
            bounds = slice_bounds(n, k)
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
            sizes = [hi - lo for lo, hi in bounds]
            assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


def test_seed_ranges_read_well() -> None:
    assert _ranges([1, 2, 3, 7, 9, 10]) == "1..3, 7, 9..10"
    assert _ranges([]) == ""
