"""md.codegen and md.compile: the lowered program as NumPy, JAX, PyTorch and Array API code.

Expected values come from NumPy formulas written out here and from tests/reference.py, an evaluator that
computes each node of the DAG on its own with np.einsum (it shares nothing with the lowering). The last
tests run every expression that the rest of the suite evaluated through every backend (conftest.py
records them).
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose

import matdiff as md
from matdiff._expr import postorder, variables
from matdiff._lower import lower

from .conftest import EVALUATED
from .reference import reference_evaluate, well_conditioned

jax = pytest.importorskip("jax") if importlib.util.find_spec("jax") else None
torch = pytest.importorskip("torch") if importlib.util.find_spec("torch") else None
strict = pytest.importorskip("array_api_strict") if importlib.util.find_spec("array_api_strict") else None
if jax is not None:
    jax.config.update("jax_enable_x64", True)

AVAILABLE = {
    "numpy": True,
    "jax": jax is not None,
    "torch": torch is not None,
    "array_api": strict is not None and importlib.util.find_spec("array_api_compat") is not None,
}
BACKENDS = [
    pytest.param(b, marks=pytest.mark.skipif(not AVAILABLE[b], reason=f"{b} not installed")) for b in md.BACKENDS
]
EXPECTED_IMPORTS = {
    "numpy": {"numpy"},
    "jax": {"jax", "jax.numpy", "jax.scipy.linalg"},
    "torch": {"torch"},
    "array_api": {"array_api_compat"},
}


def to_backend(backend: str, value, dtype=np.float64):
    """A value as the backend's array (array-api-strict's for the Array API: only standard functions)."""
    array = np.asarray(value, dtype=dtype)
    if backend == "jax":
        return jax.numpy.asarray(array)
    if backend == "torch":
        return torch.as_tensor(array)
    if backend == "array_api":
        return strict.asarray(array)
    return array


def to_numpy(value) -> np.ndarray:
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if strict is not None and type(value).__module__.startswith("array_api_strict"):
        return np.from_dlpack(value)
    return np.asarray(value)


def results(output, count: int) -> list[np.ndarray]:
    outputs = output if count > 1 else (output,)
    assert isinstance(outputs, tuple) and len(outputs) == count
    return [to_numpy(item) for item in outputs]


def run_module(source: str, name: str = "f"):
    """The function `name` of a generated module, run in a fresh namespace."""
    namespace: dict = {}
    exec(compile(source, "<generated>", "exec"), namespace)  # noqa: S102 - the code under test
    return namespace[name]


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# ---------------------------------------------------------------------------------------------
# Cases with independent NumPy references: (text, kinds, wrt, values(rng), [reference per output])

N = 4


def _square(rng):
    return rng.normal(size=(N, N)) + N * np.eye(N)


def _logistic(rng):
    return {"X": rng.normal(size=(N + 2, N)), "w": rng.normal(size=N), "y": rng.choice([-1.0, 1.0], size=N + 2)}


CASES = [
    ("x'*A*x", {}, ["x"], lambda r: {"A": r.normal(size=(N, N)), "x": r.normal(size=N)},
     [lambda A, x: x @ A @ x, lambda A, x: (A + A.T) @ x, lambda A, x: A + A.T]),
    ("sum(log(1+exp(-y.*(X*w))))", {}, ["w"], _logistic,
     [lambda X, w, y: np.sum(np.log1p(np.exp(-y * (X @ w)))),
      lambda X, w, y: -X.T @ (y * sigmoid(-y * (X @ w))),
      lambda X, w, y: X.T @ ((y**2 * sigmoid(y * (X @ w)) * (1 - sigmoid(y * (X @ w))))[:, None] * X)]),
    ("norm2(X*w-y)^2", {}, ["w"], _logistic,
     [lambda X, w, y: np.sum((X @ w - y) ** 2), lambda X, w, y: 2 * X.T @ (X @ w - y), lambda X, w, y: 2 * X.T @ X]),
    ("a'*inv(X)*b", {}, ["X"], lambda r: {"X": _square(r), "a": r.normal(size=N), "b": r.normal(size=N)},
     [lambda X, a, b: a @ np.linalg.solve(X, b),
      lambda X, a, b: -np.outer(np.linalg.inv(X).T @ a, b @ np.linalg.inv(X).T),
      lambda X, a, b: np.einsum("p,q,jk,lp,qi->ijkl", b, a, *[np.linalg.inv(X)] * 3)
      + np.einsum("r,s,jr,li,sk->ijkl", b, a, *[np.linalg.inv(X)] * 3)]),
    ("logdet(X)", {}, ["X"], lambda r: {"X": (lambda M: M @ M.T + N * np.eye(N))(r.normal(size=(N, N)))},
     [lambda X: np.linalg.slogdet(X)[1], lambda X: np.linalg.inv(X).T,
      lambda X: -np.einsum("jk,li->ijkl", np.linalg.inv(X), np.linalg.inv(X))]),
    ("A*X*B", {}, ["X"], lambda r: {"A": r.normal(size=(3, N)), "X": r.normal(size=(N, 2)), "B": r.normal(size=(2, 5))},
     [lambda A, B, X: A @ X @ B, lambda A, B, X: np.einsum("ik,lj->ijkl", A, B)]),
    ("tr(X'*A*X)", {}, ["X"], lambda r: {"A": r.normal(size=(N, N)), "X": r.normal(size=(N, 3))},
     [lambda A, X: np.trace(X.T @ A @ X), lambda A, X: (A + A.T) @ X]),
    ("x'*S*x", {"S": "symmetric"}, ["S"],
     lambda r: {"S": (lambda M: M + M.T)(r.normal(size=(N, N))), "x": r.normal(size=N)},
     [lambda S, x: x @ S @ x, lambda S, x: np.outer(x, x)]),
    ("softmax(W*x)", {}, ["x"], lambda r: {"W": r.normal(size=(3, N)), "x": r.normal(size=N)},
     [lambda W, x: np.exp(W @ x) / np.sum(np.exp(W @ x)),
      lambda W, x: (np.diag(s := np.exp(W @ x) / np.sum(np.exp(W @ x))) - np.outer(s, s)) @ W]),
    ("det(X)*logsumexp(x) + sum(sigmoid(x) + softplus(x) + relu(x) + arcsin(x/10) + arctan(x))", {}, ["x"],
     lambda r: {"X": _square(r), "x": r.normal(size=N)},
     [lambda X, x: np.linalg.det(X) * np.log(np.sum(np.exp(x))) + np.sum(
         sigmoid(x) + np.log1p(np.exp(x)) + np.maximum(x, 0) + np.arcsin(x / 10) + np.arctan(x)),
      lambda X, x: np.linalg.det(X) * np.exp(x) / np.sum(np.exp(x)) + sigmoid(x) * (1 - sigmoid(x)) + sigmoid(x)
      + (x > 0) + 1 / np.sqrt(100 - x**2) + 1 / (1 + x**2)]),
]  # fmt: skip


def _case_id(case) -> str:
    return f"{case[0]} by {','.join(case[2])}"


def _outputs(case):
    text, kinds, wrt, _, refs = case
    f = md.parse(text, **kinds)
    exprs = [f, md.diff(f, *wrt)]
    if len(refs) > 2:
        exprs.append(md.diff(f, *wrt, *wrt))
    return exprs


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_value_and_derivatives_match_numpy_formulas(case, backend) -> None:
    """Value, gradient and (where given) second derivative, through md.compile and through md.codegen's
    module run on its own, against the NumPy formulas (and evaluate agrees too)."""
    exprs = _outputs(case)
    values = case[3](np.random.default_rng(7))
    names = sorted(values)
    expected = [ref(**values) for ref in case[4]]
    arguments = [to_backend(backend, values[name]) for name in names]
    compiled = md.compile(*exprs, args=names, backend=backend)
    generated = run_module(md.codegen(*exprs, args=names, backend=backend, name="value_and_derivatives"),
                           "value_and_derivatives")  # fmt: skip
    for function in (compiled, generated):
        for got, want in zip(results(function(*arguments), len(exprs)), expected):
            assert_allclose(got, want, rtol=1e-9, atol=1e-10)
    for got, want in zip(md.evaluate(exprs, values), expected):
        assert_allclose(got, want, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_generated_module_imports_only_its_backend(backend) -> None:
    exprs = _outputs(CASES[3])  # with solves and, for JAX and PyTorch, a shared factorisation
    tree = ast.parse(md.codegen(*exprs, backend=backend))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert imported and imported <= EXPECTED_IMPORTS[backend]
    assert "matdiff" not in md.codegen(*exprs, backend=backend).split('"""', 2)[2].split("def f(")[0]


def test_generated_module_runs_without_matdiff(tmp_path) -> None:
    """The module, saved to a file, runs in a Python where importing matdiff fails."""
    exprs = _outputs(CASES[1])
    (tmp_path / "logistic.py").write_text(md.codegen(*exprs, name="loss_and_gradient"))
    script = textwrap.dedent("""
        import sys
        sys.modules["matdiff"] = None  # import matdiff now raises ImportError
        import numpy as np
        from logistic import loss_and_gradient
        X, w, y = np.eye(3, 2), np.array([0.5, -1.0]), np.array([1.0, -1.0, 1.0])
        value, gradient, hessian = loss_and_gradient(X, w, y)
        print(repr(float(value)), gradient.tolist())
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    X, w, y = np.eye(3, 2), np.array([0.5, -1.0]), np.array([1.0, -1.0, 1.0])
    value, gradient = done.stdout.split(" ", 1)
    assert_allclose(float(value), np.sum(np.log1p(np.exp(-y * (X @ w)))), rtol=1e-12)
    assert_allclose(ast.literal_eval(gradient), -X.T @ (y * sigmoid(-y * (X @ w))), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Arguments, names, shapes and dtypes


def test_args_order_unused_names_and_keywords() -> None:
    f = md.parse("x'*A*x")
    rng = np.random.default_rng(1)
    A, x = rng.normal(size=(3, 3)), rng.normal(size=3)
    function = md.compile(f, args=["x", "A", "unused"])
    assert function.args == ("x", "A", "unused")
    assert_allclose(function(x, A, "anything"), x @ A @ x)
    assert_allclose(function(unused=None, A=A, x=x), x @ A @ x)
    assert "def f(x, A, unused):" in md.codegen(f, args=["x", "A", "unused"])
    assert "def f(A, x):" in md.codegen(f)  # the default: alphabetical


def test_an_unused_argument_fixes_the_sizes_named_after_it() -> None:
    """d/dA x'*A*y = x*y' has A's shape; args that include A let its size come from A."""
    gradient = md.diff(md.parse("x'*A*y"), "A")
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=3), rng.normal(size=4)
    assert_allclose(md.compile(gradient, args=["A", "x", "y"])(np.zeros((3, 4)), x, y), np.outer(x, y))


def test_python_keywords_as_variable_names() -> None:
    f = md.parse("lambda*x'*x", **{"lambda": "scalar"})
    source = md.codegen(f)
    assert "def f(lambda_, x):" in source
    function = md.compile(f)
    assert_allclose(function(2.0, np.ones(3)), 6.0)
    assert_allclose(function(**{"lambda": 2.0, "x": np.ones(3)}), 6.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_stays_float32(backend) -> None:
    f = md.parse("sum(log(1+exp(-y.*(X*w)))) + 0.5*w'*w")
    exprs = [f, md.diff(f, "w"), md.diff(f, "w", "w"), md.diff(md.parse("x"), "x")]
    values = _logistic(np.random.default_rng(3))
    values["x"] = np.ones(3)
    function = md.compile(*exprs, args=["X", "w", "x", "y"], backend=backend)
    outputs = function(*(to_backend(backend, values[k], np.float32) for k in ["X", "w", "x", "y"]))
    for output, want in zip(outputs, md.evaluate(exprs, values)):
        assert str(output.dtype).endswith("float32"), output.dtype
        assert_allclose(to_numpy(output), want, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_logistic_loss_does_not_overflow(backend) -> None:
    """log(1 + exp(t)), as the lecture writes the logistic loss, is computed as softplus(t): at t = 800,
    exp(t) overflows, and log(1 + exp(t)) would be inf where the loss is 800 (np.logaddexp is the reference)."""
    t = np.array([800.0, -800.0, 0.0, 30.0, -30.0])
    for text in ("log(1 + exp(t))", "log(exp(t) + 1)"):
        function = md.compile(md.parse(text, t="vector"), backend=backend)
        assert_allclose(to_numpy(function(to_backend(backend, t))), np.logaddexp(0.0, t), rtol=1e-14)
    f = md.parse("sum(log(1+exp(-y.*(X*w))))")
    value = md.compile(f, args=["X", "w", "y"], backend=backend)
    X, w, y = np.array([[1000.0], [-2.0]]), np.array([1.0]), np.array([-1.0, 1.0])
    got = to_numpy(value(*(to_backend(backend, v) for v in (X, w, y))))
    assert_allclose(got, np.sum(np.logaddexp(0.0, -y * (X @ w))), rtol=1e-14)
    assert_allclose(f.evaluate({"X": X, "w": w, "y": y}), 1000.0 + np.log1p(np.exp(2.0)), rtol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
def test_shape_checks_name_the_argument(backend) -> None:
    function = md.compile(md.parse("x'*A*y"), backend=backend)
    A, x, y = (to_backend(backend, v) for v in (np.ones((3, 4)), np.ones(3), np.ones(4)))
    assert_allclose(to_numpy(function(A, x, y)), 12.0)
    with pytest.raises(ValueError, match=r"^y has shape \(3,\)"):
        function(A, x, to_backend(backend, np.ones(3)))
    with pytest.raises(ValueError, match=r"^A is a matrix, so it needs 2 axes"):
        function(x, x, y)


def test_errors_are_matdiff_errors(monkeypatch) -> None:
    f = md.parse("x'*A*x")
    with pytest.raises(md.ArgumentError, match="unknown backend 'tensorflow'.*numpy, jax, torch, array_api"):
        md.codegen(f, backend="tensorflow")
    with pytest.raises(md.ArgumentError, match="missing: x"):
        md.compile(f, args=["A"])
    with pytest.raises(md.ArgumentError, match="more than once"):
        md.codegen(f, args=["A", "x", "A"])
    with pytest.raises(md.ArgumentError, match="Python identifier"):
        md.codegen(f, name="my function")
    with pytest.raises(md.ArgumentError, match="expressions"):
        md.compile("x'*A*x")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real_find_spec(name))
    with pytest.raises(md.ArgumentError, match=r"pip install 'matdiff\[jax\]'"):
        md.compile(md.parse("sum(exp(x))"), backend="jax")
    assert "jnp.exp" in md.codegen(md.parse("sum(exp(x))"), backend="jax")  # source needs no JAX


def test_compiled_functions_are_cached() -> None:
    f = md.parse("x'*A*x")
    assert md.compile(f, md.diff(f, "x")) is md.compile(f, md.diff(f, "x"))
    assert md.compile(f, backend="numpy") is not md.compile(f, args=["x", "A"])


# ---------------------------------------------------------------------------------------------
# The lowering: solves, shared work, no diagonal matrices


def test_inverse_times_vector_is_a_solve_and_more_accurate() -> None:
    """a'*inv(X)*b and its gradients use solves, never inv. On ill-conditioned X (condition 1e12) the
    solve-based gradient by b, u = inv(X)'a, has a far smaller backward error ||X'u - a|| / (||X|| ||u||)
    than inv(X)' @ a: the point of solving."""
    f = md.parse("a'*inv(X)*b")
    by_x, by_b = md.diff(f, "X"), md.diff(f, "b")
    source = md.codegen(f, by_x, by_b)
    assert "np.linalg.solve(X, b)" in source and "np.linalg.solve(X.T, a)" in source
    assert "linalg.inv" not in source
    program = lower([f, by_x, by_b])
    assert [i.op for i in program.instructions].count("solve") == 2  # shared by the value and both gradients
    rng = np.random.default_rng(0)
    errors = []
    for _ in range(20):
        U, _, V = np.linalg.svd(rng.normal(size=(8, 8)))
        X = U @ np.diag(np.logspace(0, -12, 8)) @ V
        a = rng.normal(size=8)
        solved, via_inv = md.compile(by_b)(X, a), np.linalg.inv(X).T @ a
        assert_allclose(solved, via_inv, rtol=1e-2)  # the same vector, to the accuracy cond(X) allows
        errors.append([np.linalg.norm(X.T @ u - a) / np.linalg.norm(X) / np.linalg.norm(u) for u in (solved, via_inv)])
    errors_array = np.array(errors)
    assert np.sum(errors_array[:, 0] < errors_array[:, 1]) >= 15
    assert np.median(errors_array[:, 0]) < np.median(errors_array[:, 1]) / 2


def test_solves_share_one_factorisation_where_the_backend_can() -> None:
    f = md.parse("a'*inv(X)*b")
    exprs = [f, md.diff(f, "X")]
    assert "lu_factor(X)" in md.codegen(*exprs, backend="jax")
    assert md.codegen(*exprs, backend="torch").count("torch.linalg.lu_factor(X)") == 1


def test_every_instruction_is_spelled_by_every_backend() -> None:
    from matdiff._codegen import backend_named
    from matdiff._lower import OPERATIONS, Instruction

    samples = {"matmul": ("a", "b"), "mul": ("a", "b"), "add": ("a", "b"), "tensordot": ("a", "b"), "solve": ("X", "b")}
    attrs = {"add": (1.0, -1.0), "scale": ("2",), "power": (2.0,), "func": ("sin",), "sum": ((0,),),
             "permute": ((1, 0, 2),), "tensordot": ((0,), (1,)), "solve": (True, 1), "eye": ("n",),
             "full": (("n",), "1"), "broadcast": (("n", "m"),), "array": ("1",)}  # fmt: skip
    for name in md.BACKENDS:
        backend = backend_named(name)
        for op in OPERATIONS:
            spelled = backend.spell(Instruction("t0", op, samples.get(op, ("a",)), attrs.get(op, ())))
            assert spelled or op == "factor", (name, op)


def test_value_gradient_and_hessian_share_their_work() -> None:
    f = md.parse("x'*A*x")
    alone = sum(len(lower([e]).instructions) for e in (f, md.diff(f, "x"), md.diff(f, "x", "x")))
    together = lower([f, md.diff(f, "x"), md.diff(f, "x", "x")]).instructions
    assert len(together) < alone
    assert len({(i.op, i.args, i.attrs) for i in together}) == len(together)  # no instruction twice


def test_diagonal_matrices_are_broadcasts() -> None:
    """diag(v)*X is v[:, None] * X: no eye, no n x n diagonal matrix."""
    source = md.codegen(md.parse("diag(v)*X"))
    assert "np.eye" not in source and "v[:, None]" in source
    rng = np.random.default_rng(4)
    v, X = rng.normal(size=3), rng.normal(size=(3, 2))
    assert_allclose(md.compile(md.parse("diag(v)*X"))(X, v), np.diag(v) @ X)


def test_logdet_uses_slogdet() -> None:
    assert "slogdet" in md.codegen(md.parse("logdet(X)"))
    big = np.eye(3) * 1e200  # det overflows; slogdet does not
    assert_allclose(md.compile(md.parse("logdet(X)"))(big), 3 * np.log(1e200))


def test_deep_network_program_grows_linearly() -> None:
    """The Hessian of an L-layer tanh network: the lowered program grows linearly with L (the chain of
    Jacobians is shared, not recomputed in every term)."""
    sizes = []
    for layers in (2, 4, 8):
        text = "x"
        for k in range(1, layers + 1):
            text = f"tanh(W{k}*{text})"
        f = md.parse(f"sum({text})", x="vector")
        sizes.append(len(lower([md.diff(f, "x", "x")]).instructions))
    assert sizes[2] - sizes[1] <= 2.5 * (sizes[1] - sizes[0])


# ---------------------------------------------------------------------------------------------
# JAX, PyTorch, Dask


@pytest.mark.skipif(jax is None, reason="jax not installed")
def test_jax_jit_and_x64() -> None:
    f = md.parse("sum(log(1+exp(-y.*(X*w))))")
    values = _logistic(np.random.default_rng(5))
    jitted = jax.jit(md.compile(f, md.diff(f, "w"), backend="jax"))
    value, gradient = jitted(*(jax.numpy.asarray(values[k]) for k in ("X", "w", "y")))
    assert gradient.dtype == jax.numpy.float64
    X, w, y = values["X"], values["w"], values["y"]
    assert_allclose(np.asarray(gradient), -X.T @ (y * sigmoid(-y * (X @ w))), rtol=1e-12)
    reference = jax.grad(lambda w: jax.numpy.sum(jax.numpy.log1p(jax.numpy.exp(-y * (X @ w)))))(w)
    assert_allclose(np.asarray(gradient), np.asarray(reference), rtol=1e-12)


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_torch_tensors_in_and_out_and_torch_compile() -> None:
    f = md.parse("x'*A*x")
    function = md.compile(f, md.diff(f, "x"), backend="torch")
    A, x = torch.randn(4, 4, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    value, gradient = function(A, x)
    assert isinstance(gradient, torch.Tensor)
    assert torch.allclose(gradient, (A + A.T) @ x)
    compiled = torch.compile(function, backend="aot_eager", fullgraph=True)  # traced by dynamo, no C compiler
    assert torch.allclose(compiled(A, x)[1], (A + A.T) @ x)


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None or not AVAILABLE["array_api"],
                    reason="dask.distributed and array-api-compat not installed")  # fmt: skip
def test_dask_distributed_logistic_gradient() -> None:
    """The logistic-loss gradient over data in chunks, through the array_api backend, on a LocalCluster:
    the result is a lazy Dask array, computed by the cluster's workers, equal to NumPy's."""
    import dask.array as da
    from distributed import Client, LocalCluster

    f = md.parse("sum(log(1+exp(-y.*(X*w))))")
    gradient = md.compile(md.diff(f, "w"), backend="array_api")
    rng = np.random.default_rng(6)
    X, w, y = rng.normal(size=(1000, 5)), rng.normal(size=5), rng.choice([-1.0, 1.0], size=1000)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        with Client(cluster):
            lazy = gradient(da.from_array(X, chunks=(250, 5)), da.from_array(w), da.from_array(y, chunks=250))
            assert isinstance(lazy, da.Array)
            assert lazy.npartitions >= 1 and len(lazy.dask) > 4  # a task graph over the chunks
            assert_allclose(lazy.compute(), -X.T @ (y * sigmoid(-y * (X @ w))), rtol=1e-12)


@pytest.mark.skipif(importlib.util.find_spec("dask") is None or not AVAILABLE["array_api"],
                    reason="dask and array-api-compat not installed")  # fmt: skip
def test_dask_hessian_with_an_identity() -> None:
    """A constant the program creates (the identity of the ridge term) takes the device of Dask arrays,
    which have no .device attribute: array_api_compat.device finds it."""
    import dask
    import dask.array as da

    f = md.parse("sum(log(1+exp(-y.*(X*w)))) + lam/2*norm2(w)^2", lam="scalar")
    hessian = md.compile(md.diff(f, "w", "w"), backend="array_api", args=["X", "lam", "w", "y"])
    rng = np.random.default_rng(7)
    X, w, y = rng.normal(size=(200, 4)), rng.normal(size=4), rng.choice([-1.0, 1.0], size=200)
    lazy = hessian(da.from_array(X, chunks=(50, 4)), da.from_array(np.array(0.5)), da.from_array(w),
                   da.from_array(y, chunks=50))  # fmt: skip
    s = sigmoid(y * (X @ w))
    with dask.config.set(scheduler="synchronous"):
        assert_allclose(lazy.compute(), X.T @ (X * (s * (1 - s))[:, None]) + 0.5 * np.eye(4), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Every expression the rest of the suite evaluated, through every backend


@pytest.mark.after_suite
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_evaluated_expression_on_every_backend(backend) -> None:
    """Each set of expressions the suite evaluated (conftest.py records them: derivatives of first and
    second order, 3-D and 4-D results, symmetric variables, every function), through md.compile and through
    md.codegen's module in a fresh namespace, against the independent reference evaluator. Values where the
    reference is not finite, or a matrix function's argument is ill-conditioned, are skipped: there two
    correct evaluations may differ in every digit."""
    cases = list(EVALUATED.items())
    assert cases, "nothing was recorded"
    failures, compared = [], 0
    for roots, values in cases:
        if not roots:
            continue
        names = list(variables(list(roots)))
        owners = {str(d)[2:] for node in postorder(list(roots)) for d in node.shape if str(d)[:2] in ("m_", "n_")}
        args = names + sorted(k for k in values if k not in names and k in owners)  # they fix sizes, see evaluate
        try:
            expected = reference_evaluate(list(roots), values)
        except Exception:  # noqa: BLE001 - the reference cannot evaluate it (a value outside a domain)
            continue
        if not all(np.all(np.isfinite(e)) for e in expected) or not well_conditioned(list(roots), values):
            continue
        if backend == "jax" and _extreme_constants(roots):
            continue  # XLA flushes subnormal numbers to zero: 1e308*(1./(a + 1e308)) is 0 there, 1 in NumPy
        arguments = [to_backend(backend, values[name]) for name in args]
        try:
            compiled = md.compile(*roots, args=args, backend=backend)
            generated = run_module(md.codegen(*roots, args=args, backend=backend))
            for function in (compiled, generated):
                with np.errstate(all="ignore"):
                    got = results(function(*arguments), len(roots))
                for g, e in zip(got, expected):
                    scale = max(1.0, float(np.max(np.abs(e)))) if e.size else 1.0
                    assert_allclose(g, e, rtol=1e-7, atol=1e-9 * scale)
            compared += 1
        except Exception as error:  # noqa: BLE001 - collected, reported together
            failures.append(f"{[str(r)[:80] for r in roots]}: {type(error).__name__}: {str(error)[:300]}")
    assert not failures, f"{len(failures)} of {len(cases)} failed, e.g.:\n" + "\n".join(failures[:8])
    assert compared >= min(50, len(cases) // 2)


def _extreme_constants(roots) -> bool:
    """Whether an expression has a constant so large or small that its intermediates may be subnormal."""
    return any(node.op == "const" and not 1e-290 < abs(node.attrs[0]) < 1e290 and node.attrs[0] != 0
               for node in postorder(list(roots)))  # fmt: skip
