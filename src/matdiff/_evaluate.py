"""Numeric evaluation: bind dimensions from the values, then compute each node once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._errors import ArgumentError, EvaluationError
from ._expr import Dim, Expr, postorder
from ._registry import lookup
from ._shapes import DimClasses, dim_classes


def _bind(classes: DimClasses, nodes: Sequence[Expr], values: Mapping[str, Any]) -> dict[Dim, int]:
    """Sizes of every dimension class, from the arrays given for the variables."""
    sizes: dict[Dim, int] = {}
    source: dict[Dim, str] = {}

    def record(dim: Dim, size: int, origin: str) -> None:
        root = classes.find(dim)
        if isinstance(root, int) and root != size:
            raise EvaluationError(f"{origin} has size {size} where the expression needs {root}")
        if sizes.setdefault(root, size) != size:
            raise EvaluationError(
                f"{origin} has size {size}, but {source[root]} has size {sizes[root]}; they must agree"
            )
        source.setdefault(root, origin)

    for dim in _named_dims(nodes):  # the naming scheme binds m_X to X's first axis and n_X to its last
        if isinstance(dim, str) and dim[:2] in ("m_", "n_") and dim[2:] in values:
            array = real_array(dim[2:], values[dim[2:]])
            if array.ndim:
                axis = 0 if dim[0] == "m" else array.ndim - 1
                record(dim, array.shape[axis], f"{dim[2:]} (axis {axis} of shape {array.shape})")
    return sizes


def _named_dims(nodes: Sequence[Expr]) -> list[Dim]:
    return sorted({d for node in nodes for d in node.shape if isinstance(d, str)})


def _size(classes: DimClasses, sizes: dict[Dim, int], dim: Dim) -> int:
    root = classes.find(dim)
    if isinstance(root, int):
        return root
    if root not in sizes:
        raise EvaluationError(f"the size {root} is unknown: give a value for the variable it belongs to")
    return sizes[root]


_NOT_REAL = {"c": "complex", "U": "text", "S": "bytes", "M": "a date", "m": "a time span", "V": "a record"}


def real_array(name: str, value: Any) -> np.ndarray:
    """`value` as a float64 array. Complex numbers, None, text and other values that are not real numbers
    are an EvaluationError: converting them would drop the imaginary part or give NaN without a word."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:  # ragged nested lists, for one
        raise EvaluationError(f"the value of {name} is not a numeric array: {error}") from None
    if array.dtype.kind == "O":
        if any(item is None for item in array.flat):
            raise EvaluationError(f"the value of {name} contains None; give numbers (NaN explicitly, if meant)")
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise EvaluationError(f"the value of {name} is not numeric: {error}") from None
    if array.dtype.kind not in "biuf":
        what = _NOT_REAL.get(array.dtype.kind, f"of dtype {array.dtype}")
        raise EvaluationError(f"the value of {name} is {what}; matdiff evaluates real numbers")
    return array.astype(np.float64, copy=False)


def _check_value(node: Expr, value: Any) -> np.ndarray:
    name, kind = node.attrs
    array = real_array(name, value)
    if array.ndim != node.ndim:
        raise EvaluationError(f"{name} is a {kind}, so its value needs {node.ndim} axes; got shape {array.shape}")
    if kind == "symmetric":
        if array.shape[0] != array.shape[1] or not np.allclose(array, array.T, rtol=1e-10, atol=1e-12):
            raise EvaluationError(f"{name} is declared symmetric, but its value is not a symmetric matrix")
    return array


# ---------------------------------------------------------------------------------------------


def evaluate(roots: Sequence[Expr], values: Mapping[str, Any]) -> list[np.ndarray]:
    """Evaluate several expressions together; each shared node is computed once."""
    if not isinstance(values, Mapping):
        raise ArgumentError(f"values must map variable names to numbers or arrays, got {type(values).__name__}")
    if not roots:
        return []
    order, classes = _plan(roots)
    sizes = _bind(classes, order, values)
    computed: dict[int, np.ndarray] = {}
    for node in order:
        computed[id(node)] = _compute(node, [computed[id(c)] for c in node.args], values, classes, sizes)
    results = []
    for root in roots:
        value = np.asarray(computed[id(root)])
        expected = tuple(_size(classes, sizes, d) for d in root.shape)
        results.append(np.broadcast_to(value, expected) if value.shape != expected else value)
    return results


def _plan(roots: Sequence[Expr]) -> tuple[list[Expr], DimClasses]:
    """The evaluation order and dimension classes, worked out once per set of roots."""
    key = ("plan", tuple(roots[1:]))
    plan = roots[0]._memo.get(key)
    if plan is None:
        plan = (postorder(roots), dim_classes(roots))
        roots[0]._memo[key] = plan
    return plan


def _compute(node: Expr, args: list[np.ndarray], values: Mapping[str, Any], classes, sizes) -> np.ndarray:
    op = node.op
    if op == "var":
        name = node.attrs[0]
        if name not in values:
            raise EvaluationError(f"no value given for {name} ({node.attrs[1]})")
        array = _check_value(node, values[name])
        expected = tuple(_size(classes, sizes, d) for d in node.shape)
        if array.shape != expected:
            raise EvaluationError(f"{name} has shape {array.shape}, expected {expected}")
        return array
    if op == "const":
        return np.asarray(node.attrs[0])
    if op in ("zeros", "ones"):
        shape = tuple(_size(classes, sizes, d) for d in node.shape)
        return np.zeros(shape) if op == "zeros" else np.ones(shape)
    if op == "delta":
        return np.eye(_size(classes, sizes, node.shape[0]))
    if op == "row":
        return args[0]
    if op == "einsum":
        return _einsum(node, args)
    if op == "add":
        total = args[0] + args[1]
        for term in args[2:]:
            total += term
        return total
    if op == "pow":
        exponent = node.attrs[0]
        if exponent == 2.0:
            return args[0] * args[0]
        if exponent == -1.0:
            return 1.0 / args[0]
        return np.power(args[0], exponent)
    if op == "hole":
        raise EvaluationError("a factoring placeholder cannot be evaluated")
    value = lookup(op).value  # a registered function; lookup raises for an unknown operation
    assert value is not None
    return value(args[0])


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _einsum(node: Expr, args: list[np.ndarray]) -> np.ndarray:
    run = node._memo.get("run")
    if run is None:
        run = node._memo["run"] = _compile_einsum(*node.attrs)
    return run(args)


def _compile_einsum(subs: tuple, out: tuple):
    """A function computing one product: BLAS for a matrix product, einsum otherwise."""
    spec = ",".join("".join(_LETTERS[i] for i in s) for s in subs) + "->" + "".join(_LETTERS[i] for i in out)
    if len(subs) == 2 and _is_matrix_product(subs, out):
        return _matrix_product(subs, out)
    if len(subs) <= 2:
        return lambda args: np.einsum(spec, *args)
    paths: dict[tuple, list] = {}

    def planned(args: list[np.ndarray]) -> np.ndarray:
        shapes = tuple(a.shape for a in args)
        if shapes not in paths:  # plan the contraction order once per shapes
            paths[shapes] = np.einsum_path(spec, *args, optimize="greedy")[0]
        return np.einsum(spec, *args, optimize=paths[shapes])

    return planned


def _is_matrix_product(subs: tuple, out: tuple) -> bool:
    """One label contracted, no label repeated or shared by both operands and the output."""
    a, b = subs
    if len(set(a)) != len(a) or len(set(b)) != len(b) or len(a) > 2 or len(b) > 2:
        return False
    contracted = set(a) & set(b)
    return len(contracted) == 1 and not contracted & set(out) and set(out) == set(a) ^ set(b)


def _matrix_product(subs: tuple, out: tuple):
    a, b = subs
    (label,) = set(a) & set(b)
    flip_a = len(a) == 2 and a[0] == label  # move the contracted axis of A last
    flip_b = len(b) == 2 and b[1] == label  # and that of B first
    labels = [x for x in a if x != label] + [x for x in b if x != label]
    swap = labels != list(out)

    def run(args: list[np.ndarray]) -> np.ndarray:
        left, right = args
        result = (left.T if flip_a else left) @ (right.T if flip_b else right)
        return result.T if swap else result

    return run
