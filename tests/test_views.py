"""md.views: layouts, index notation, flattened Jacobians, Kronecker forms and slices.

Expected values come from NumPy (np.kron, explicit vec loops, closed forms), never from matdiff.
"""

import numpy as np
import pytest

import matdiff as md
from matdiff import views

RNG = np.random.default_rng(7)


def rand(*shape):
    return RNG.standard_normal(shape)


def vec_f(M):
    """Column-major vec, written out: stack the columns."""
    return np.concatenate([M[:, j] for j in range(M.shape[1])])


def vec_c(M):
    """Row-major vec, written out: stack the rows."""
    return np.concatenate([M[i, :] for i in range(M.shape[0])])


def jacobian_by_vec(F, X, vec):
    """d vec(F(X)) / d vec(X) of a linear F: column vec(E) is vec(F(E)) for each unit matrix E."""
    J = np.zeros((vec(F(X)).size, X.size))
    for k, m in np.ndindex(X.shape):
        unit = np.zeros(X.shape)
        unit[k, m] = 1.0
        J[:, np.flatnonzero(vec(unit))[0]] = vec(F(unit))
    return J


def commutation(m, n):
    """K with K vec(X) = vec(X') for an m x n X (column-major vec)."""
    K = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            K[i * n + j, j * m + i] = 1.0
    return K


# Layouts -----------------------------------------------------------------------------------------


def test_default_layout_is_gradient():
    assert views.derivative_text("x'*a", "x") == "a"
    assert views.derivative_text("x'*a", "x", layout="gradient") == "a"
    assert views.derivative_text("x'*a", "x") == str(md.diff(md.parse("x'*a"), "x"))


def test_numerator_layout_gives_a_row_vector():
    assert views.derivative_text("x'*a", "x", layout="numerator") == "a'"
    assert views.derivative_latex("x'*a", "x", layout="numerator") == r"a^{\top}"
    assert views.derivative_latex("x'*a", "x") == "a"
    assert views.derivative(md.parse("x'*a"), "x", layout="numerator").kind == "row"
    assert views.derivative_text("x'*A*x", "x", layout="numerator") == "(A*x + A'*x)'"


def test_layouts_never_change_numbers():
    a, A, x = rand(4), rand(4, 4), rand(4)
    values = {"a": a, "A": A, "x": x}
    for text, expected in [("x'*a", a), ("x'*A*x", (A + A.T) @ x)]:
        g = views.derivative(text, "x", layout="gradient").evaluate(values)
        n = views.derivative(text, "x", layout="numerator").evaluate(values)
        np.testing.assert_allclose(g, expected)
        np.testing.assert_allclose(n, expected)


def test_jacobian_and_matrix_gradient_are_the_same_in_both_layouts():
    for layout in views.LAYOUTS:
        assert views.derivative_text("A*x", "x", layout=layout) == "A"  # m x n in both
        assert views.derivative_text("a'*X*b", "X", layout=layout) == "a*b'"  # the matrix's shape in both
    a, X, b = rand(3), rand(3, 2), rand(2)
    value = views.derivative("a'*X*b", "X", layout="numerator").evaluate({"a": a, "X": X, "b": b})
    np.testing.assert_allclose(value, np.outer(a, b))


def test_vector_by_scalar_and_hessian_unchanged():
    f = md.parse("t*x", t="scalar")
    assert views.derivative_text(f, "t", layout="numerator") == views.derivative_text(f, "t") == "x"
    hessian = views.derivative_text("x'*A*x", "x", "x", layout="numerator")
    assert hessian == views.derivative_text("x'*A*x", "x", "x") == "A + A'"


def test_bad_layout_and_bad_input():
    with pytest.raises(md.ArgumentError, match="layout"):
        views.derivative_text("x'*a", "x", layout="denominator")
    with pytest.raises(md.MatdiffError):
        views.derivative_latex("x'*a", "x", layout="")
    with pytest.raises(md.ArgumentError):
        views.derivative(3.0, "x")


# Index notation ----------------------------------------------------------------------------------


def test_index_notation_of_a_4d_derivative():
    D = md.diff(md.parse("A*X*B"), "X")
    assert views.index_notation(D) == "J[i,j,k,l] = A[i,k]*B[l,j]"
    assert views.index_notation(D, latex=True) == "J_{ijkl} = A_{ik} B_{lj}"
    assert views.index_notation(D, name="D") == "D[i,j,k,l] = A[i,k]*B[l,j]"


def test_index_notation_even_where_a_matrix_form_exists():
    assert views.index_notation(md.diff(md.parse("A*x"), "x")) == "J[i,j] = A[i,j]"
    assert views.index_notation(md.diff(md.parse("X"), "X")) == "J[i,j,k,l] = eye[i,k]*eye[j,l]"
    gradient = views.index_notation(md.diff(md.parse("x'*A*x"), "x"))
    assert gradient.startswith("J[i] = ") and "A[i," in gradient and "'" not in gradient
    assert views.index_notation(md.parse("x'*a")) == "J = x[i]*a[i]"


def test_index_notation_errors():
    with pytest.raises(md.ArgumentError):
        views.index_notation(3.0)
    with pytest.raises(md.ArgumentError):
        views.index_notation(md.parse("A*x"), name="")


# Flattened Jacobians -----------------------------------------------------------------------------


def test_flatten_axb_is_kron_in_column_major_vec():
    A, X, B = rand(2, 3), rand(3, 4), rand(4, 5)
    values = {"A": A, "X": X, "B": B}
    D = md.diff(md.parse("A*X*B"), "X")
    flat = views.flatten(D, 2, values, "F")
    assert flat.shape == (2 * 5, 3 * 4)
    np.testing.assert_allclose(flat, np.kron(B.T, A))
    np.testing.assert_allclose(flat, jacobian_by_vec(lambda Y: A @ Y @ B, X, vec_f))
    np.testing.assert_allclose(views.flatten(D, 2, values), flat)  # "F" is the default


def test_flatten_row_major():
    A, X, B = rand(2, 3), rand(3, 4), rand(4, 5)
    D = md.diff(md.parse("A*X*B"), "X")
    flat = views.flatten(D, 2, {"A": A, "X": X, "B": B}, order="C")
    np.testing.assert_allclose(flat, np.kron(A, B.T))
    np.testing.assert_allclose(flat, jacobian_by_vec(lambda Y: A @ Y @ B, X, vec_c))


def test_flatten_of_lower_orders_and_arrays():
    a, X, b = rand(3), rand(3, 2), rand(2)
    G = views.flatten(md.diff(md.parse("a'*X*b"), "X"), 0, {"a": a, "X": X, "b": b}, "F")
    np.testing.assert_allclose(G, vec_f(np.outer(a, b))[None, :])
    A, x = rand(3, 4), rand(4)
    np.testing.assert_allclose(views.flatten(md.diff(md.parse("A*x"), "x"), 1, {"A": A, "x": x}), A)
    T = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_allclose(views.flatten(T, 1, order="C"), T.reshape(2, 12))
    np.testing.assert_allclose(views.flatten(T, 1, order="F")[1], vec_f(T[1]))


def test_flatten_errors():
    D = md.diff(md.parse("A*X*B"), "X")
    values = {"A": rand(2, 2), "X": rand(2, 2), "B": rand(2, 2)}
    with pytest.raises(md.ArgumentError, match="order"):
        views.flatten(D, 2, values, order="K")
    for bad in (-1, 5, 1.5, True):
        with pytest.raises(md.ArgumentError, match="out_ndim"):
            views.flatten(D, bad, values)
    with pytest.raises(md.ArgumentError, match="values"):
        views.flatten(D, 2)
    with pytest.raises(md.ArgumentError):
        views.flatten([[1.0]], 1)


# Kronecker forms ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shapes", "kron_text", "kron_latex", "expected"),
    [
        ("A*X*B", {"A": (2, 3), "X": (3, 4), "B": (4, 5)}, "kron(B', A)", r"B^{\top} \otimes A",
         lambda v: np.kron(v["B"].T, v["A"])),
        ("X", {"X": (3, 4)}, "kron(eye, eye)", r"I \otimes I", lambda v: np.kron(np.eye(4), np.eye(3))),
        ("A*X", {"A": (2, 3), "X": (3, 4)}, "kron(eye, A)", r"I \otimes A", lambda v: np.kron(np.eye(4), v["A"])),
        ("X*B", {"X": (3, 4), "B": (4, 5)}, "kron(B', eye)", r"B^{\top} \otimes I",
         lambda v: np.kron(v["B"].T, np.eye(3))),
        ("inv(X)", {"X": (3, 3)}, "-kron(inv(X)', inv(X))", None,
         lambda v: -np.kron(np.linalg.inv(v["X"]).T, np.linalg.inv(v["X"]))),
        ("2*A*X*B", {"A": (2, 3), "X": (3, 4), "B": (4, 2)}, "2*kron(B', A)", r"2 \left(B^{\top} \otimes A\right)",
         lambda v: 2 * np.kron(v["B"].T, v["A"])),
    ],
)  # fmt: skip
def test_kronecker_forms(text, shapes, kron_text, kron_latex, expected):
    values = {name: rand(*shape) + (3 * np.eye(shape[0]) if name == "X" and shape[0] == shape[1] else 0)
              for name, shape in shapes.items()}  # fmt: skip
    D = md.diff(md.parse(text), "X")
    form = views.kronecker(D)
    assert isinstance(form, views.KroneckerForm)
    assert form.order == "F"
    assert str(form) == kron_text
    if kron_latex is not None:
        assert form.to_latex() == kron_latex
    np.testing.assert_allclose(form.evaluate(values), expected(values), atol=1e-12)
    np.testing.assert_allclose(views.flatten(D, 2, values, "F"), expected(values), atol=1e-12)


def test_kronecker_left_and_right_are_expressions():
    form = views.kronecker(md.diff(md.parse("A*X*B"), "X"))
    assert str(form.left) == "B'" and str(form.right) == "A"
    A, B = rand(2, 3), rand(4, 5)
    np.testing.assert_allclose(form.left.evaluate({"B": B}), B.T)
    np.testing.assert_allclose(form.right.evaluate({"A": A}), A)
    assert form._repr_latex_() == r"$B^{\top} \otimes A$"


def test_kronecker_row_major():
    A, X, B = rand(2, 3), rand(3, 4), rand(4, 5)
    values = {"A": A, "X": X, "B": B}
    D = md.diff(md.parse("A*X*B"), "X")
    form = views.kronecker(D, order="C")
    assert str(form) == "kron(A, B')" and form.order == "C"
    np.testing.assert_allclose(form.evaluate(values), np.kron(A, B.T))
    np.testing.assert_allclose(form.evaluate(values), views.flatten(D, 2, values, "C"))


def test_kronecker_of_3d_derivatives():
    A, x, a = rand(3, 4), rand(4), rand(5)
    D = md.diff(md.parse("A*x"), "A")  # vec(Ax) = (x' kron I) vec(A)
    form = views.kronecker(D, out_ndim=1)
    assert str(form) == "kron(x', eye)"
    np.testing.assert_allclose(form.evaluate({"A": A, "x": x}), np.kron(x[None, :], np.eye(3)))
    np.testing.assert_allclose(views.flatten(D, 1, {"A": A, "x": x}), np.kron(x[None, :], np.eye(3)))
    D = md.diff(md.parse("x*a'"), "x")  # vec(x a') = (a kron I) x
    form = views.kronecker(D, out_ndim=2)
    assert str(form) == "kron(a, eye)"
    expected = np.kron(a[:, None], np.eye(4))
    np.testing.assert_allclose(form.evaluate({"a": a, "x": x}), expected)
    np.testing.assert_allclose(views.flatten(D, 2, {"a": a, "x": x}), expected)


def test_kronecker_of_longer_products():
    A, X, B, C = rand(2, 3), rand(3, 4), rand(4, 5), rand(5, 2)
    D = md.diff(md.parse("A*X*B*C"), "X")
    form = views.kronecker(D)
    assert str(form) == "kron(C'*B', A)"
    assert form.to_latex() == r"\left(C^{\top} B^{\top}\right) \otimes A"
    np.testing.assert_allclose(form.evaluate({"A": A, "X": X, "B": B, "C": C}), np.kron((B @ C).T, A))


def test_kronecker_sums():
    X = rand(3, 3)
    D = md.diff(md.parse("X*X"), "X")
    form = views.kronecker(D)
    assert isinstance(form, views.KroneckerSum)
    assert str(form) == "kron(X', eye) + kron(eye, X)"
    expected = np.kron(X.T, np.eye(3)) + np.kron(np.eye(3), X)
    np.testing.assert_allclose(form.evaluate({"X": X}), expected)
    np.testing.assert_allclose(views.flatten(D, 2, {"X": X}), expected)
    form = views.kronecker(md.diff(md.parse("A*X*B - C*X*E"), "X"))
    assert str(form) == "kron(B', A) - kron(E', C)"
    assert form.to_latex() == r"B^{\top} \otimes A - E^{\top} \otimes C"


def test_transpose_has_no_kronecker_form():
    X = rand(3, 4)
    D = md.diff(md.parse("X'"), "X")
    assert views.kronecker(D) is None
    np.testing.assert_allclose(views.flatten(D, 2, {"X": X}), commutation(3, 4))  # the commutation matrix
    np.testing.assert_allclose(commutation(3, 4) @ vec_f(X), vec_f(X.T))


@pytest.mark.parametrize("text", ["A*X'*B", "X.*A", "X*X'"])
def test_no_kronecker_form(text):
    assert views.kronecker(md.diff(md.parse(text), "X")) is None


def test_kronecker_needs_tensor_derivatives():
    assert views.kronecker(md.diff(md.parse("A*x"), "x"), out_ndim=1) is None
    assert views.kronecker(md.diff(md.parse("a'*X*b"), "X"), out_ndim=0) is None
    assert views.kronecker("A*X*B") is None  # a matrix, not a derivative: it has no Kronecker form
    with pytest.raises(md.ArgumentError):
        views.kronecker(3.0)
    with pytest.raises(md.ArgumentError):
        views.kronecker(md.diff(md.parse("A*X*B"), "X"), out_ndim=7)
    with pytest.raises(md.ArgumentError):
        views.kronecker(md.diff(md.parse("A*X*B"), "X"), order="R")


# Slices ------------------------------------------------------------------------------------------


def test_slices_of_ax_by_a():
    A, x = rand(3, 4), rand(4)
    D = md.diff(md.parse("A*x"), "A")
    for i in range(3):  # df_i/dA: row i is x', every other row zero
        expected = np.zeros((3, 4))
        expected[i] = x
        np.testing.assert_allclose(views.slice_value(D, i, 1, {"A": A, "x": x}), expected)
    assert views.slice_text(D, 1, 1) == "J[1,j,k] = x[k]*eye[1,j]"


def test_slices_of_a_4d_derivative():
    A, X, B = rand(2, 3), rand(3, 4), rand(4, 5)
    D = md.diff(md.parse("A*X*B"), "X")
    np.testing.assert_allclose(views.slice_value(D, (0, 1), 2, {"A": A, "X": X, "B": B}), np.outer(A[0], B[:, 1]))
    assert views.slice_text(D, (0, 1), 2) == "J[0,1,k,l] = A[0,k]*B[l,1]"
    T = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_allclose(views.slice_value(T, (1, 2), 2), T[1, 2])


def test_slice_errors():
    D = md.diff(md.parse("A*x"), "A")
    values = {"A": rand(3, 4), "x": rand(4)}
    with pytest.raises(md.ArgumentError):
        views.slice_value(D, (0, 1), 1, values)
    with pytest.raises(md.ArgumentError, match="out of range"):
        views.slice_value(D, 3, 1, values)
    with pytest.raises(md.ArgumentError):
        views.slice_value(D, True, 1, values)
    with pytest.raises(md.ArgumentError):
        views.slice_value(D, "0", 1, values)
    with pytest.raises(md.ArgumentError, match="values"):
        views.slice_value(D, 0, 1)
    with pytest.raises(md.ArgumentError):
        views.slice_text(D, -1, 1)
    with pytest.raises(md.ArgumentError):
        views.slice_text(3.0, 0, 1)


def test_exposed_as_md_views():
    assert md.views is views
    assert "views" in md.__all__
