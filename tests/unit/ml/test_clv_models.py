"""BG/NBD and Gamma-Gamma: the likelihoods recover known parameters from data simulated by the models themselves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rapport.ml import clv

BGNBD_TRUE = (0.6, 4.0, 0.8, 2.5)  # r, alpha (weeks), a, b
GAMMA_GAMMA_TRUE = (6.0, 4.0, 15.0)  # p, q, gamma


def simulate_bgnbd(n: int, params, seed: int) -> pd.DataFrame:
    """Customers drawn from the BG/NBD story: Poisson buying at rate lambda, dropping out after a purchase with p."""
    r, alpha, a, b = params
    rng = np.random.default_rng(seed)
    rates = rng.gamma(r, 1 / alpha, n)
    dropout = rng.beta(a, b, n)
    ages = rng.uniform(20, 100, n)
    rows = []
    for rate, p, age in zip(rates, dropout, ages, strict=True):
        t, x, t_x = 0.0, 0, 0.0
        while True:
            t += rng.exponential(1 / rate)
            if t > age:
                break
            x, t_x = x + 1, t
            if rng.random() < p:
                break
        rows.append((x, t_x, age))
    return pd.DataFrame(rows, columns=["x", "t_x", "T"])


def simulate_spend(x: np.ndarray, params, seed: int) -> np.ndarray:
    """Mean purchase value over ``x`` purchases: values ~ Gamma(p, nu), nu ~ Gamma(q, gamma) per customer."""
    p, q, gamma = params
    rng = np.random.default_rng(seed)
    nu = rng.gamma(q, 1 / gamma, len(x))
    return np.array([rng.gamma(p, 1 / v, k).mean() if k else np.nan for v, k in zip(nu, x, strict=True)])


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    return simulate_bgnbd(4000, BGNBD_TRUE, seed=1)


def test_bgnbd_recovers_the_parameters_it_simulated(customers):
    fitted = clv.fit_bgnbd(customers["x"], customers["t_x"], customers["T"])
    assert fitted == pytest.approx(BGNBD_TRUE, rel=0.3)
    # the fit is a maximum: the true parameters never score higher on the same data
    true_ll = clv.bgnbd_log_likelihood(BGNBD_TRUE, customers["x"], customers["t_x"], customers["T"]).sum()
    assert clv.bgnbd_log_likelihood(fitted, customers["x"], customers["t_x"], customers["T"]).sum() >= true_ll


def test_gamma_gamma_recovers_the_parameters_it_simulated(customers):
    x = np.maximum(customers["x"].to_numpy(), 1) + np.random.default_rng(2).poisson(3, len(customers))
    m = simulate_spend(x, GAMMA_GAMMA_TRUE, seed=3)
    fitted = clv.fit_gamma_gamma(x, m)
    p, q, gamma = fitted
    true_p, true_q, true_gamma = GAMMA_GAMMA_TRUE
    # q and gamma trade off along a ridge of the likelihood; the mean purchase value p*gamma/(q-1) is sharp
    assert (p, q, gamma) == pytest.approx((true_p, true_q, true_gamma), rel=0.3)
    assert p * gamma / (q - 1) == pytest.approx(true_p * true_gamma / (true_q - 1), rel=0.03)
    true_ll = clv.gamma_gamma_log_likelihood(GAMMA_GAMMA_TRUE, x, m).sum()
    assert clv.gamma_gamma_log_likelihood(fitted, x, m).sum() >= true_ll


def test_expected_purchases_match_a_fresh_simulation_of_the_future(customers):
    """Customers simulated over age + 52 weeks: BG/NBD's conditional expectation predicts the extra purchases."""
    r, alpha, a, b = BGNBD_TRUE
    rng = np.random.default_rng(5)
    n, horizon = 20000, 52.0
    rates, dropout, ages = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n), np.full(n, 40.0)
    x, t_x, future = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        t, alive = 0.0, True
        while alive:
            t += rng.exponential(1 / rates[i])
            if t > ages[i] + horizon:
                break
            if t <= ages[i]:
                x[i], t_x[i] = x[i] + 1, t
            else:
                future[i] += 1
            alive = rng.random() >= dropout[i]
    expected = clv.bgnbd_expected_purchases(BGNBD_TRUE, horizon, x, t_x, ages)
    assert expected.sum() == pytest.approx(future.sum(), rel=0.05)
    for group in (x == 0, (x >= 1) & (x < 4), x >= 4):
        assert expected[group].mean() == pytest.approx(future[group].mean(), rel=0.12)


def test_gamma_gamma_expected_value_shrinks_towards_the_population_mean():
    params = GAMMA_GAMMA_TRUE
    prior = params[0] * params[2] / (params[1] - 1)
    one, many = clv.gamma_gamma_expected_value(params, np.array([1, 50]), np.array([100.0, 100.0]))
    assert clv.gamma_gamma_expected_value(params, np.array([0]), np.array([np.nan]))[0] == pytest.approx(prior)
    assert prior < one < many < 100.0


def test_regression_metrics_capture_revenue_of_the_predicted_top_decile():
    actual = np.array([100.0] + [0.0] * 19)
    metrics = clv.regression_metrics(actual, np.arange(20, 0, -1))
    assert metrics["val_revenue_capture_top_1_decile"] == 1.0
    assert clv.regression_metrics(actual, np.arange(20))["val_revenue_capture_top_1_decile"] == 0.0
    assert metrics["val_mae"] == pytest.approx(np.mean(np.abs(actual - np.arange(20, 0, -1))))
