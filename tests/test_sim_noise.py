"""Noise stages have the documented statistics, compose in order, and depend only on the generator."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clankers.errors import ConfigError
from clankers.sim.noise import (
    Bias,
    Gaussian,
    NoiseChain,
    Quantization,
    RandomWalk,
    Uniform,
    build_noise,
    encoder,
    mems_accelerometer,
    mems_gyro,
    noise_chain,
)

N = 20_000  # samples: a sample std is within 5 / sqrt(2 N) = 2.5 % of the truth with near certainty


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_gaussian_has_per_axis_std_and_zero_mean():
    chain = NoiseChain(Gaussian(std=[0.1, 2.0]), size=2, dt=0.01)
    g = rng()
    samples = np.array([chain.apply(np.array([1.0, -3.0]), g) for _ in range(N)])
    np.testing.assert_allclose(samples.std(axis=0), [0.1, 2.0], rtol=0.025)
    tolerance = 5 * np.array([0.1, 2.0]) / np.sqrt(N)  # 5 standard errors of the mean
    assert np.all(np.abs(samples.mean(axis=0) - [1.0, -3.0]) < tolerance)


def test_uniform_is_bounded_with_variance_w2_over_3():
    chain = NoiseChain({"kind": "uniform", "half_width": 0.5}, size=1, dt=0.01)
    g = rng(1)
    samples = np.array([chain.apply(np.zeros(1), g)[0] for _ in range(N)])
    assert samples.min() >= -0.5 and samples.max() <= 0.5
    assert samples.var() == pytest.approx(0.25 / 3, rel=0.03)


def test_bias_is_constant_within_an_episode_and_redrawn_at_reset():
    chain = NoiseChain(Bias(std=1.0, mean=0.5), size=3, dt=0.01)
    g = rng(2)
    chain.reset(g)
    first = [chain.apply(np.zeros(3), g) for _ in range(5)]
    assert all(np.array_equal(first[0], f) for f in first)
    chain.reset(g)
    assert not np.array_equal(chain.apply(np.zeros(3), g), first[0])
    biases = []
    for _ in range(4000):
        chain.reset(g)
        biases.append(chain.apply(np.zeros(3), g))
    assert np.mean(biases) == pytest.approx(0.5, abs=0.05) and np.std(biases) == pytest.approx(1.0, rel=0.03)


def test_random_walk_variance_grows_as_sigma2_t():
    sigma, dt, steps, axes = 0.3, 0.02, 50, 4000
    chain = NoiseChain(RandomWalk(sigma=sigma), size=axes, dt=dt)
    g = rng(3)
    chain.reset(g)
    for _ in range(steps):
        drift = chain.apply(np.zeros(axes), g)
    assert drift.var() == pytest.approx(sigma**2 * dt * steps, rel=0.06)
    chain.reset(g)
    assert np.abs(chain.apply(np.zeros(axes), g)).max() < 5 * sigma * np.sqrt(dt)  # drift restarted


@settings(max_examples=50, deadline=None)
@given(x=st.floats(-100, 100), step=st.floats(0.001, 1.0))
def test_quantization_rounds_to_grid(x, step):
    y = NoiseChain(Quantization(step=step), size=1, dt=0.01).apply(np.array([x]), rng())[0]
    assert abs(y - x) <= step / 2 + 1e-9
    assert abs(y / step - round(y / step)) < 1e-6


def test_chain_order_matters_quantizing_last_gives_grid_values():
    g = rng(4)
    last = NoiseChain([Gaussian(std=0.3), Quantization(step=0.25)], size=100, dt=0.01).apply(np.zeros(100), g)
    np.testing.assert_allclose(last / 0.25, np.round(last / 0.25), atol=1e-12)
    first = NoiseChain([Quantization(step=0.25), Gaussian(std=0.3)], size=100, dt=0.01).apply(
        np.zeros(100), g
    )
    assert not np.allclose(first / 0.25, np.round(first / 0.25))


def test_same_generator_state_same_noise():
    spec = mems_gyro()
    a, b = NoiseChain(spec, 3, 0.01), NoiseChain(spec, 3, 0.01)
    ga, gb = rng(9), rng(9)
    a.reset(ga)
    b.reset(gb)
    for _ in range(20):
        np.testing.assert_array_equal(a.apply(np.ones(3), ga), b.apply(np.ones(3), gb))


def test_per_axis_mapping_applies_different_chains():
    labels = ["arm.position", "arm.velocity", "hand.position", "hand.velocity"]
    noise = build_noise({"*.position": encoder(8), "hand.*": Gaussian(std=1.0)}, labels, dt=0.01)
    g = rng(5)
    noise.reset(g)
    x = np.array([0.3, 0.3, 0.3, 0.3])
    y = noise.apply(x, g)
    step = 2 * np.pi / 8
    assert y[0] == pytest.approx(step * round(0.3 / step))  # encoder only
    assert y[1] == 0.3  # no noise matched
    assert y[2] != 0.3 and y[3] != 0.3  # later pattern wins on hand.position


def test_presets_are_chains_of_plausible_size():
    assert [s.kind for s in mems_gyro()] == ["bias", "random_walk", "gaussian", "quantization"]
    assert [s.kind for s in mems_accelerometer()] == ["bias", "random_walk", "gaussian", "quantization"]
    assert encoder(4096)[0].step == pytest.approx(2 * np.pi / 4096)
    assert noise_chain("mems_gyro") == mems_gyro()


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"kind": "gaussian", "std": -1.0}, "std"),
        ({"kind": "pink"}, "kinds are"),
        ("thermal", "unknown noise preset"),
        ({"kind": "uniform", "half_width": [1.0, 2.0, 3.0]}, "one per axis"),
    ],
)
def test_bad_noise_specs_raise_config_error(spec, match):
    with pytest.raises(ConfigError, match=match):
        NoiseChain(spec, size=2, dt=0.01)


def test_unmatched_axis_pattern_is_an_error():
    with pytest.raises(ConfigError, match="matches no axis"):
        build_noise({"elbow.*": "encoder"}, ["shoulder.position"], dt=0.01)
    assert Uniform(half_width=0.0).half_width == 0.0


def test_quantization_step_zero_leaves_an_axis_alone():
    y = NoiseChain(Quantization(step=[0.25, 0.0]), size=2, dt=0.01).apply(np.array([0.3, 0.3]), rng())
    np.testing.assert_array_equal(y, [0.25, 0.3])
