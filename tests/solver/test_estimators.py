"""Tests of nngp_ntk.solver._estimators: real scikit-learn estimators (clone, params, CV, grid search, checks)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

import nngp_ntk as nk
from nngp_ntk import solver


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.05 * rng.standard_normal(60)
    return X, y


def test_clone_and_nested_params():
    net = nk.FullyConnected(depth=2, W_std=1.5, b_std=0.1)
    reg = nk.KernelRegressor(net, kernel="nngp", t=10.0, ridge=0.1)
    params = reg.get_params()
    assert params["net__depth"] == 2 and params["net__W_std"] == 1.5 and params["t"] == 10.0
    copy = clone(reg)
    assert copy.net is not net and copy.net == net and copy.get_params(deep=False)["kernel"] == "nngp"
    copy.set_params(net__depth=4, ridge=0.5)
    assert copy.net.depth == 4 and net.depth == 2 and copy.ridge == 0.5
    with pytest.raises(ValueError, match="depth"):
        copy.set_params(net__depth=-1)


@pytest.mark.slow
def test_predictions_are_those_of_the_solver(data):
    X, y = data
    net = nk.FullyConnected(depth=2, W_std=1.5, b_std=0.1)
    reg = nk.KernelRegressor(net, t=5.0, ridge=1e-3).fit(X[:40], y[:40])
    mean, cov = solver.predict(net, X[:40], y[:40], X[40:], t=5.0, ridge=1e-3, return_cov=True)
    assert reg.predict(X[40:]).dtype == np.float64
    np.testing.assert_allclose(reg.predict(X[40:]), mean, rtol=1e-5, atol=1e-6)
    std_mean, std = reg.predict(X[40:], return_std=True)
    np.testing.assert_allclose(std, np.sqrt(np.diag(cov)), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(reg.predict(X[40:], return_cov=True)[1], cov, rtol=1e-4, atol=1e-4)
    two = nk.KernelRegressor(net, kernel="nngp").fit(X[:40], np.stack([y[:40], -y[:40]], axis=1))
    mean2, std2 = two.predict(X[40:], return_std=True)
    assert mean2.shape == (20, 2) and std2.shape == (20, 2)
    np.testing.assert_allclose(mean2[:, 0], -mean2[:, 1], rtol=1e-6, atol=1e-6)
    assert two.predict(X[40:], return_cov=True)[1].shape == (20, 20, 2)
    assert 0.8 < reg.score(X[40:], y[40:]) <= 1.0
    with pytest.raises(ValueError, match="return_std"):
        reg.predict(X, return_std=True, return_cov=True)


@pytest.mark.slow
def test_cross_validation_and_grid_search(data):
    X, y = data
    reg = nk.KernelRegressor(nk.FullyConnected(depth=1, W_std=1.0, b_std=0.1), ridge=1e-3)
    scores = cross_val_score(reg, X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.8)
    grid = {"net__W_std": [0.5, 2.0], "net__depth": [1, 3], "ridge": [1e-3, 10.0], "t": [None, 1.0]}
    search = GridSearchCV(reg, grid, cv=3).fit(X, y)
    assert search.best_params_["ridge"] == 1e-3 and search.best_params_["t"] is None
    assert search.best_estimator_.net_.depth == search.best_params_["net__depth"]
    assert search.best_score_ > 0.8
    assert reg.net.W_std == 1.0                  # the searched-over network is left as it was


@pytest.mark.slow
def test_classifier(data):
    X, _ = data
    labels = np.where(X[:, 0] > 0.3, "right", np.where(X[:, 1] > 0, "up", "down"))
    clf = nk.KernelClassifier(nk.FullyConnected(depth=2), ridge=1e-3)
    assert cross_val_score(clf, X, labels, cv=3).mean() > 0.7
    clf.fit(X[:45], labels[:45])
    assert list(clf.classes_) == ["down", "right", "up"]
    assert clf.decision_function(X[45:]).shape == (15, 3)
    assert set(clf.predict(X[45:])) <= set(clf.classes_)
    binary = nk.KernelClassifier().fit(X, X[:, 0] > 0)
    assert binary.decision_function(X[:5]).shape == (5,)
    assert binary.score(X, X[:, 0] > 0) == 1.0
    search = GridSearchCV(clf, {"t": [None, 0.1], "ridge": [1e-3, 1.0]}, cv=3).fit(X, labels)
    assert search.best_score_ > 0.7


@pytest.mark.parametrize("params, match", [(dict(kernel="rbf"), "kernel"), (dict(t=-1.0), "t must"),
                                           (dict(t=[1.0, 2.0]), "t must"), (dict(ridge=-1.0), "ridge"),
                                           (dict(learning_rate=0.0), "learning_rate")])
def test_bad_params_raise_at_fit(data, params, match):
    X, y = data
    reg = nk.KernelRegressor(**params)            # no validation in __init__ (scikit-learn convention)
    with pytest.raises(ValueError, match=match):
        reg.fit(X, y)
    with pytest.raises(TypeError, match="net"):
        nk.KernelRegressor(net="relu").fit(X, y)


@pytest.mark.slow
@parametrize_with_checks([nk.KernelRegressor(ridge=1e-6), nk.KernelClassifier(ridge=1e-6)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.slow
def test_any_network_with_nested_parameters(data):
    """A Sequential works in the estimators, and GridSearchCV searches one layer's W_std
    (net__layers__0__W_std) on clones, leaving the given network unchanged."""
    X, y = data
    net = nk.Sequential(nk.Dense(W_std=1.0, b_std=0.1), nk.activations.Erf(), nk.Dense(W_std=1.2))
    same = nk.FullyConnected(depth=1, activation="erf", W_std=[1.0, 1.2], b_std=[0.1, 0.0])
    np.testing.assert_allclose(nk.KernelRegressor(net, ridge=1e-3).fit(X, y).predict(X[:5]),
                               nk.KernelRegressor(same, ridge=1e-3).fit(X, y).predict(X[:5]), rtol=1e-5)
    search = GridSearchCV(nk.KernelRegressor(net, ridge=1e-3), {"net__layers__0__W_std": [0.5, 2.0]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["net__layers__0__W_std"] in (0.5, 2.0)
    assert net.get_params()["layers__0__W_std"] == 1.0
    assert search.best_estimator_.net.get_params()["layers__0__W_std"] == search.best_params_["net__layers__0__W_std"]
    with pytest.raises(ValueError, match="W_std"):
        net.set_params(layers__0__W_std=-1.0)
    assert net.get_params()["layers__0__W_std"] == 1.0
    with pytest.raises(ValueError, match="invalid parameter"):
        net.set_params(layers__9__W_std=1.0)
