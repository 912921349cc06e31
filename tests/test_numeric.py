"""md.numeric: numerical derivatives of Python callables, checked against closed forms in NumPy.

Expected values never come from matdiff itself. Tolerances:
- central differences with Richardson (the default): relative error <= 1e-10 in float64;
- forward and backward differences with Richardson: relative error <= 1e-8;
- the reported `.error` bounds the true error, up to a factor of 2 (ERROR_FACTOR).
"""

import numpy as np
import pytest

import matdiff as md
from matdiff import numeric

CENTRAL_RTOL = 1e-10
ONE_SIDED_RTOL = 1e-8
ERROR_FACTOR = 2.0  # true error <= ERROR_FACTOR * reported error


def _rel(value, exact):
    return float(np.max(np.abs(np.asarray(value, dtype=float) - exact)) / np.max(np.abs(exact)))


def _covered(estimate, exact):
    """The true error, entry by entry, lies within ERROR_FACTOR times the reported error."""
    true = np.abs(np.asarray(estimate.value, dtype=float) - exact)
    return bool(np.all(true <= ERROR_FACTOR * np.asarray(estimate.error)))


# (name, f, f', x): smooth functions with their derivatives in closed form
SMOOTH = [
    ("exp", np.exp, np.exp, 1.0),
    ("sin", np.sin, np.cos, 0.7),
    ("log", np.log, lambda x: 1 / x, 2.5),
    ("sqrt near 0", np.sqrt, lambda x: 0.5 / np.sqrt(x), 1e-3),
    ("polynomial", lambda x: x**5 - 3 * x**2 + 2, lambda x: 5 * x**4 - 6 * x, 1.3),
    ("rational", lambda x: 1 / (1 + x**2), lambda x: -2 * x / (1 + x**2) ** 2, 0.5),
    ("exp(sin)", lambda x: np.exp(np.sin(x)), lambda x: np.cos(x) * np.exp(np.sin(x)), 2.0),
    ("tanh", np.tanh, lambda x: 1 - np.tanh(x) ** 2, -0.4),
    ("x^2 at 1e8", lambda x: x**2, lambda x: 2 * x, 1e8),
    ("sin(x/1e8) at 1e8", lambda x: np.sin(x * 1e-8), lambda x: 1e-8 * np.cos(x * 1e-8), 1e8),
    ("x^3 at 1e-8", lambda x: x**3, lambda x: 3 * x**2, 1e-8),
    ("exp at 1e-8", np.exp, np.exp, 1e-8),
    ("log at 1e-8", np.log, lambda x: 1 / x, 1e-8),
    ("1e10*sin", lambda x: 1e10 * np.sin(x), lambda x: 1e10 * np.cos(x), 0.3),
    ("1e-12*x^3", lambda x: 1e-12 * x**3, lambda x: 3e-12 * x**2, 2.0),
]
SMOOTH_IDS = [case[0] for case in SMOOTH]


# ---------------------------------------------------------------------------------------------
# Accuracy on smooth functions


@pytest.mark.parametrize(("name", "f", "df", "x"), SMOOTH, ids=SMOOTH_IDS)
def test_central_default_reaches_1e_10(name, f, df, x):
    estimate = numeric.derivative(f, x)
    exact = df(x)
    assert estimate.method == "central"
    assert estimate.shape == ()
    assert _rel(estimate.value, exact) <= CENTRAL_RTOL
    assert _covered(estimate, exact), (float(estimate.value), exact, float(estimate.error))
    # the estimate is informative too, not merely safe
    assert float(estimate.error) <= 1e-9 * abs(exact)


@pytest.mark.parametrize("method", ["forward", "backward"])
@pytest.mark.parametrize(("name", "f", "df", "x"), SMOOTH, ids=SMOOTH_IDS)
def test_one_sided_reach_1e_8(name, f, df, x, method):
    estimate = numeric.derivative(f, x, method=method)
    exact = df(x)
    assert estimate.method == method
    assert _rel(estimate.value, exact) <= ONE_SIDED_RTOL
    assert _covered(estimate, exact), (float(estimate.value), exact, float(estimate.error))


def test_without_richardson_central_is_still_accurate_to_1e_7():
    estimate = numeric.derivative(np.exp, 1.0, richardson=False)
    assert _rel(estimate.value, np.e) <= 1e-7
    assert _covered(estimate, np.e)


def test_badly_scaled_coordinates_in_one_gradient():
    # one coordinate lives at 1e8, one at 1e-8, one at 1; f itself stays O(1)
    f = lambda x: np.sin(x[0] * 1e-8) + np.exp(x[1] * 1e8) + x[2] ** 3
    x = np.array([1e8, 1e-8, 1.5])
    exact = np.array([1e-8 * np.cos(1.0), 1e8 * np.e, 3 * 1.5**2])
    estimate = numeric.gradient(f, x)
    assert np.all(np.abs(estimate.value - exact) <= CENTRAL_RTOL * np.abs(exact))
    assert _covered(estimate, exact)


def test_default_step_is_relative_to_max_abs_x_and_one():
    at_one = float(numeric.derivative(np.exp, 1.0).step)
    assert float(numeric.derivative(np.exp, 100.0).step) == pytest.approx(100 * at_one)
    assert float(numeric.derivative(np.exp, -1e-6).step) == pytest.approx(at_one)  # absolute below |x| = 1
    assert float(numeric.derivative(np.exp, 0.0).step) == pytest.approx(at_one)


def test_step_relative_to_x_where_the_absolute_one_leaves_the_domain():
    # sqrt at 1e-3: the absolute step would cross 0; the retry relative to |x| stays inside
    estimate = numeric.derivative(np.sqrt, 1e-3)
    assert _rel(estimate.value, 0.5 / np.sqrt(1e-3)) <= CENTRAL_RTOL


def test_explicit_step_is_used_per_entry():
    f = lambda x: np.sum(np.exp(x))
    x = np.array([0.1, 0.2, 0.3])
    estimate = numeric.gradient(f, x, step=[1e-2, 2e-2, 3e-2])
    np.testing.assert_array_equal(estimate.step, [1e-2, 2e-2, 3e-2])
    assert _rel(estimate.value, np.exp(x)) <= 1e-9
    assert _covered(estimate, np.exp(x))


def test_integer_input_is_differenced_in_float64():
    estimate = numeric.derivative(lambda x: x**3, 2)
    assert _rel(estimate.value, 12.0) <= CENTRAL_RTOL


def test_estimate_behaves_as_its_value():
    estimate = numeric.jacobian(np.sin, np.array([0.1, 0.2]))
    np.testing.assert_array_equal(np.asarray(estimate), estimate.value)
    assert estimate.shape == (2, 2)
    assert estimate.error.shape == (2, 2)
    assert "evaluations=" in repr(estimate) and "central" in repr(estimate)


# ---------------------------------------------------------------------------------------------
# Shapes: output shape + input shape, against closed forms


def test_jacobian_of_matrix_input_vector_output():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 6))
    X = rng.standard_normal((2, 3))
    f = lambda X: np.tanh(A @ X.reshape(-1))
    estimate = numeric.jacobian(f, X)
    assert estimate.shape == (4, 2, 3)
    exact = ((1 - np.tanh(A @ X.reshape(-1)) ** 2)[:, None] * A).reshape(4, 2, 3)
    assert _rel(estimate.value, exact) <= CENTRAL_RTOL
    assert _covered(estimate, exact)


def test_scalar_to_scalar_has_scalar_shape():
    estimate = numeric.derivative(np.sin, 0.3)
    assert estimate.shape == ()
    assert estimate.error.shape == ()


def test_jacobian_of_linear_map_is_the_matrix():
    rng = np.random.default_rng(1)
    A = rng.uniform(1, 2, (3, 5))
    x = rng.uniform(0.5, 2, 5)
    estimate = numeric.jacobian(lambda x: A @ x, x)
    assert estimate.shape == (3, 5)
    assert _rel(estimate.value, A) <= CENTRAL_RTOL
    assert _covered(estimate, A)


def test_jacobian_of_elementwise_sin_is_diagonal():
    x = np.array([0.5, 1.0, 1.5, 2.0, 2.5])
    estimate = numeric.jacobian(np.sin, x)
    exact = np.diag(np.cos(x))
    assert estimate.shape == (5, 5)
    assert _rel(estimate.value, exact) <= CENTRAL_RTOL
    assert _covered(estimate, exact)


def test_jacobian_of_matrix_to_matrix_function():
    rng = np.random.default_rng(2)
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((4, 5))
    X = rng.standard_normal((3, 4))
    estimate = numeric.jacobian(lambda X: A @ X @ B, X)
    assert estimate.shape == (2, 5, 3, 4)
    exact = np.einsum("ik,lj->ijkl", A, B)  # d(AXB)_ij / dX_kl = A_ik B_lj
    assert np.max(np.abs(estimate.value - exact)) <= 1e-9 * np.max(np.abs(exact))
    assert _covered(estimate, exact)


def test_gradient_of_trace_form_has_matrix_shape():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((3, 3))
    X = rng.standard_normal((3, 2))
    estimate = numeric.gradient(lambda X: np.trace(X.T @ A @ X), X)
    assert estimate.shape == (3, 2)
    exact = (A + A.T) @ X
    assert _rel(estimate.value, exact) <= CENTRAL_RTOL
    assert _covered(estimate, exact)


def test_hessian_of_quadratic_form():
    rng = np.random.default_rng(4)
    n = 4
    A = rng.standard_normal((n, n))
    x = rng.standard_normal(n)
    estimate = numeric.hessian(lambda x: x @ A @ x, x)
    assert estimate.shape == (n, n)
    np.testing.assert_array_equal(estimate.value, estimate.value.T)
    exact = A + A.T
    assert _rel(estimate.value, exact) <= 1e-7
    assert _covered(estimate, exact)


@pytest.mark.parametrize(
    ("name", "f", "hess"),
    [
        ("sum exp", lambda x: np.sum(np.exp(x)), lambda x: np.diag(np.exp(x))),
        (
            "logsumexp",
            lambda x: np.log(np.sum(np.exp(x))),
            lambda x: (lambda p: np.diag(p) - np.outer(p, p))(np.exp(x) / np.sum(np.exp(x))),
        ),
        ("sin(a.x)", lambda x: np.sin(x @ [1.0, -2.0, 0.5]), None),
    ],
)
def test_hessian_of_smooth_functions(name, f, hess):
    x = np.array([0.3, -0.2, 0.9])
    if hess is None:  # sin(a.x): -sin(a.x) a a'
        a = np.array([1.0, -2.0, 0.5])
        exact = -np.sin(x @ a) * np.outer(a, a)
    else:
        exact = hess(x)
    estimate = numeric.hessian(f, x)
    np.testing.assert_array_equal(estimate.value, estimate.value.T)
    assert _rel(estimate.value, exact) <= 1e-6
    assert _covered(estimate, exact)


def test_hessian_of_matrix_input_has_doubled_shape():
    rng = np.random.default_rng(5)
    C = rng.standard_normal((2, 2))
    X = rng.standard_normal((2, 3))
    estimate = numeric.hessian(lambda X: np.trace(X.T @ C @ X), X)
    assert estimate.shape == (2, 3, 2, 3)
    # d^2 tr(X'CX) / dX_ab dX_cd = (C + C')_ac delta_bd
    exact = np.einsum("ac,bd->abcd", C + C.T, np.eye(3))
    flat = estimate.value.reshape(6, 6)
    np.testing.assert_array_equal(flat, flat.T)
    assert np.max(np.abs(estimate.value - exact)) <= 1e-7 * np.max(np.abs(exact))
    assert _covered(estimate, exact)


def test_directional_derivative_is_jacobian_times_direction():
    rng = np.random.default_rng(6)
    A = rng.standard_normal((4, 4))
    x, u = rng.standard_normal(4), rng.standard_normal(4)
    estimate = numeric.directional(lambda x: x @ A @ x, x, u)
    exact = u @ (A + A.T) @ x
    assert estimate.shape == ()
    assert _rel(estimate.value, exact) <= CENTRAL_RTOL
    assert _covered(estimate, exact)
    assert estimate.evaluations == 7
    zero = numeric.directional(lambda x: x @ A @ x, x, np.zeros(4))
    assert float(zero.value) == 0.0


# ---------------------------------------------------------------------------------------------
# Evaluation counts


def test_central_richardson_uses_one_plus_six_per_entry():
    x = np.array([0.5, 1.0, 1.5, 2.0, 2.5])
    for f in (lambda x: np.sum(np.exp(x)), lambda x: np.sum(np.sin(x))):
        assert numeric.gradient(f, x).evaluations == 1 + 6 * x.size
    assert numeric.derivative(np.exp, 1.0).evaluations == 7


def test_elementwise_jacobian_needs_no_refinement():
    # the off-diagonal zeros are exact: they must not trigger the adaptive retry
    x = np.array([0.5, 1.0, 1.5, 2.0, 2.5])
    assert numeric.jacobian(np.sin, x).evaluations == 1 + 6 * x.size
    # the same for one output that does not depend on x at all
    assert numeric.derivative(lambda x: np.array([np.exp(x), 1.0]), 1.0).evaluations == 7


def test_without_richardson_two_steps_are_used():
    # the quotients at h and h/2: the second judges the first's error
    x = np.array([0.5, 1.0, 1.5, 2.0])
    f = lambda x: np.sum(np.exp(x))
    assert numeric.gradient(f, x, richardson=False).evaluations == 1 + 4 * x.size
    assert numeric.gradient(f, x, richardson=False, method="forward").evaluations == 1 + 2 * x.size


@pytest.mark.parametrize("shape", [(4,), (2, 3)])
def test_hessian_uses_six_n_squared_plus_one(shape):
    x = np.linspace(0.2, 1.0, int(np.prod(shape))).reshape(shape)
    n = x.size
    f = lambda x: np.sum(np.exp(x)) + np.sum(x) ** 2
    estimate = numeric.hessian(f, x)
    assert estimate.evaluations == 6 * n**2 + 1
    assert estimate.evaluations < 30 * n**2 + 1  # numdifftools' count
    assert numeric.hessian(f, x, richardson=False).evaluations == 4 * n**2 + 1


def test_evaluations_count_every_call():
    calls = []

    def f(x):
        calls.append(1)
        return np.sum(np.exp(x))

    estimate = numeric.gradient(f, np.array([0.5, 1.5]))
    assert estimate.evaluations == len(calls)


# ---------------------------------------------------------------------------------------------
# Non-smooth points


def test_abs_at_zero_flags_the_kink():
    estimate = numeric.derivative(np.abs, 0.0)
    assert abs(float(estimate.value)) <= 1e-12
    assert 0.5 <= float(estimate.error) <= 2.0  # the one-sided slopes, -1 and 1, disagree by 2


@pytest.mark.parametrize("x", [1e-3, -1e-3, 1e-9])
def test_abs_away_from_zero_is_accurate(x):
    estimate = numeric.derivative(np.abs, x)
    assert _rel(estimate.value, np.sign(x)) <= CENTRAL_RTOL
    assert float(estimate.error) <= 1e-9


def test_kink_is_flagged_entry_by_entry():
    x = np.array([-1.0, 0.0, 2.0])
    estimate = numeric.jacobian(np.abs, x)
    error = np.asarray(estimate.error)
    assert error[1, 1] >= 0.5
    assert np.all(np.delete(error.reshape(-1), 4) <= 1e-9)
    np.testing.assert_allclose(np.diag(estimate.value)[[0, 2]], [-1.0, 1.0], rtol=CENTRAL_RTOL)


def test_relu_at_its_kink_covers_both_slopes():
    estimate = numeric.derivative(lambda x: np.maximum(x, 0.0), 0.0)
    value, error = float(estimate.value), float(estimate.error)
    assert abs(value - 0.0) <= error and abs(value - 1.0) <= error


def _relu_shifted(c):
    return lambda t: np.maximum(t - c, 0.0)


@pytest.mark.parametrize("offset", [1e-6, 1e-5, 1e-4, 1e-3])
@pytest.mark.parametrize("side", [-1, 1])
def test_relu_near_its_kink_central(offset, side):
    # the kink at c = 1 + side*offset lies within or beyond the step around x = 1. The smallest step
    # tried is about 2.5e-7 (h/10^4): a kink closer than that cannot be seen, as docs/numeric.md says.
    c = 1.0 + side * offset
    exact = 1.0 if c < 1.0 else 0.0
    estimate = numeric.derivative(_relu_shifted(c), 1.0)
    true = abs(float(estimate.value) - exact)
    assert true <= 1e-8 or true <= ERROR_FACTOR * float(estimate.error), (float(estimate.value), float(estimate.error))


@pytest.mark.parametrize("offset", [1e-7, 1e-6])
@pytest.mark.parametrize("method", ["forward", "backward"])
def test_relu_near_its_kink_one_sided(offset, method):
    # the kink lies on the side the one-sided stencil reaches into
    c = 1.0 + offset if method == "forward" else 1.0 - offset
    exact = 0.0 if method == "forward" else 1.0
    estimate = numeric.derivative(_relu_shifted(c), 1.0, method=method)
    true = abs(float(estimate.value) - exact)
    assert true <= 1e-8 or true <= ERROR_FACTOR * float(estimate.error), (float(estimate.value), float(estimate.error))


# ---------------------------------------------------------------------------------------------
# float32


FLOAT32_CASES = [case for case in SMOOTH if case[0] not in ("exp at 1e-8", "log at 1e-8", "sin(x/1e8) at 1e8")]


@pytest.mark.parametrize(("name", "f", "df", "x"), FLOAT32_CASES, ids=[case[0] for case in FLOAT32_CASES])
def test_float32_error_estimate_is_consistent(name, f, df, x):
    x32 = np.float32(x)
    exact = df(float(x32))  # the derivative at the float32 point, in float64
    single = numeric.derivative(f, x32)
    double = numeric.derivative(f, float(x32))
    assert _covered(single, exact), (float(single.value), exact, float(single.error))
    assert float(single.error) > 100 * float(double.error)
    assert _rel(single.value, exact) <= 1e-4  # about sqrt(eps32)-level or better


def test_float32_input_is_evaluated_in_float32():
    seen = []

    def f(x):
        seen.append(np.asarray(x).dtype)
        return np.sum(np.exp(x))

    x = np.array([0.5, 1.5], dtype=np.float32)
    estimate = numeric.gradient(f, x)
    assert set(seen) == {np.dtype(np.float32)}
    assert _covered(estimate, np.exp(x.astype(np.float64)))


# ---------------------------------------------------------------------------------------------
# Errors


def test_non_callable_f():
    with pytest.raises(md.ArgumentError, match="callable"):
        numeric.derivative(3.0, 1.0)
    with pytest.raises(TypeError):
        numeric.gradient("sin", np.ones(2))
    with pytest.raises(md.ArgumentError):
        numeric.hessian(None, np.ones(2))


@pytest.mark.parametrize("bad", [np.nan, np.inf, [1.0, -np.inf], [[0.0, np.nan]]])
@pytest.mark.parametrize("function", ["derivative", "jacobian", "gradient", "hessian"])
def test_non_finite_x(function, bad):
    f = lambda x: np.sum(np.sin(x))
    with pytest.raises(md.EvaluationError, match="non-finite"):
        getattr(numeric, function)(f, bad)


def test_non_finite_x_in_directional():
    with pytest.raises(md.EvaluationError):
        numeric.directional(np.sin, np.array([1.0, np.nan]), np.ones(2))


def test_f_nan_at_x():
    with pytest.raises(md.EvaluationError):
        numeric.derivative(lambda x: np.nan * x, 1.0)
    with pytest.raises(md.EvaluationError):
        numeric.derivative(np.log, -1.0)
    with pytest.raises(md.EvaluationError):
        numeric.hessian(lambda x: np.sum(x) * np.nan, np.ones(2))


def test_f_leaving_its_domain_at_every_step():
    with pytest.raises(md.EvaluationError, match="step"):
        numeric.derivative(np.sqrt, 0.0)


def test_f_failing_to_evaluate():
    with pytest.raises(md.EvaluationError):
        numeric.derivative(lambda x: "not a number", 1.0)


def test_f_with_inconsistent_shapes():
    f = lambda x: np.zeros(3) if x[0] == 1.0 else np.zeros(2)
    with pytest.raises(md.ShapeError, match="shape"):
        numeric.jacobian(f, np.array([1.0]))


def test_gradient_of_vector_valued_f():
    with pytest.raises(md.ShapeError, match="jacobian"):
        numeric.gradient(np.sin, np.ones(3))
    with pytest.raises(md.ShapeError):
        numeric.hessian(np.sin, np.ones(3))


def test_directional_with_mismatched_direction():
    with pytest.raises(md.ShapeError):
        numeric.directional(np.sin, np.ones(3), np.ones(2))


@pytest.mark.parametrize("function", ["derivative", "jacobian", "gradient", "directional"])
def test_bad_method_name(function):
    f = lambda x: np.sum(np.sin(x))
    args = (f, np.ones(2), np.ones(2)) if function == "directional" else (f, np.ones(2))
    with pytest.raises(md.ArgumentError, match="method"):
        getattr(numeric, function)(*args, method="centre")


@pytest.mark.parametrize("step", [-1e-3, 0.0, np.nan, np.inf])
@pytest.mark.parametrize("function", ["derivative", "gradient", "hessian", "directional"])
def test_bad_step(function, step):
    f = lambda x: np.sum(np.sin(x))
    args = (f, np.ones(2), np.ones(2)) if function == "directional" else (f, np.ones(2))
    with pytest.raises(md.ArgumentError, match="step"):
        getattr(numeric, function)(*args, step=step)


def test_step_of_wrong_shape():
    with pytest.raises(md.MatdiffError):
        numeric.gradient(lambda x: np.sum(np.sin(x)), np.ones(3), step=[1e-3, 1e-3])


def test_non_numeric_x():
    with pytest.raises(md.MatdiffError):
        numeric.derivative(np.sin, "a")


# ---------------------------------------------------------------------------------------------
# Error against step size


def test_step_errors_have_a_v_shape():
    data = numeric.step_errors(np.exp, 1.0, exact=np.e)
    assert set(data) == {"step", "forward", "central", "richardson"}
    h, central = data["step"], data["central"]
    assert h.min() == pytest.approx(1e-15) and h.max() == pytest.approx(1.0)
    best = central.min()
    assert best <= 1e-9
    assert best <= 1e-6 * central[np.argmin(h)]  # round-off at h = 1e-15
    assert best <= 1e-6 * central[np.argmax(h)]  # truncation at h = 1
    assert 1e-8 <= h[np.argmin(central)] <= 1e-3
    assert data["richardson"].min() <= 1e-12


def test_step_errors_slopes():
    h = np.logspace(-4, -1, 13)
    data = numeric.step_errors(np.exp, 1.0, exact=np.e, steps=h)
    np.testing.assert_array_equal(data["step"], h)
    forward = np.polyfit(np.log(h), np.log(data["forward"]), 1)[0]
    central = np.polyfit(np.log(h), np.log(data["central"]), 1)[0]
    assert forward == pytest.approx(1.0, abs=0.1)
    assert central == pytest.approx(2.0, abs=0.1)


def test_step_errors_without_exact_use_the_best_estimate():
    h = np.array([1e-3, 1e-2])
    data = numeric.step_errors(np.sin, 0.5, steps=h)
    exact_errors = np.abs((np.sin(0.5 + h) - np.sin(0.5 - h)) / (2 * h) - np.cos(0.5))
    np.testing.assert_allclose(data["central"], exact_errors, rtol=1e-6)


def test_plot_step_error_returns_a_figure_and_writes_a_png(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    path = tmp_path / "step_error.png"
    figure = numeric.plot_step_error(np.exp, 1.0, exact=np.e, path=str(path))
    try:
        assert isinstance(figure, Figure)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        axes = figure.axes[0]
        assert axes.get_xscale() == "log" and axes.get_yscale() == "log"
        labels = {line.get_label() for line in axes.get_lines()}
        assert {"forward", "central", "richardson"} <= labels
    finally:
        plt.close(figure)
    figure = numeric.plot_step_error(np.sin, 0.5)  # no path: only the figure
    assert isinstance(figure, Figure)
    plt.close(figure)


def test_plot_step_error_without_matplotlib(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="matdiff\\[plot\\]"):
        numeric.plot_step_error(np.exp, 1.0)
