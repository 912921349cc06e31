"""Numeric evaluation: check the values and the sizes they give, then run the compiled NumPy program."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from . import _codegen
from ._errors import ArgumentError, EvaluationError, UnfixedSizeError
from ._expr import Dim, Expr, postorder, unfixed_size
from ._shapes import dim_classes

_NOT_REAL = {"c": "complex", "U": "text", "S": "bytes", "M": "a date", "m": "a time span", "V": "a record"}


def real_array(name: str, value: Any) -> np.ndarray:
    """`value` as a float64 array. Complex numbers, None, text and other values that are not real numbers
    are an EvaluationError: converting them would drop the imaginary part or give NaN without a word."""
    if type(value) is np.ndarray and value.dtype == np.float64:
        return value  # the common case, without the checks below
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
    """Evaluate several expressions together; each shared node is computed once.

    The values are checked here (real numbers, each variable's kind), then the expressions' compiled NumPy
    program runs (`_codegen.evaluator`, cached per set of expressions), checking that the shapes agree;
    where they do not, `_check_sizes` says so in matdiff's terms.
    """
    if not isinstance(values, Mapping):
        raise ArgumentError(f"values must map variable names to numbers or arrays, got {type(values).__name__}")
    if not roots:
        return []
    plan = _plan(roots)
    arrays = []
    for name, node in plan.variables.items():
        if name not in values:
            raise EvaluationError(f"no value given for {name} ({node.attrs[1]})")
        arrays.append(_check_value(node, values[name]))
    # a size that none of the variables has is read from the value named after it (m_A, n_A: A's axes)
    owners = tuple(name for name in plan.owners if name in values) if plan.owners else ()
    arrays += [real_array(name, values[name]) for name in owners]
    if owners:  # the program reads sizes from them but checks only its variables
        _check_sizes(plan, dict(zip([*plan.variables, *owners], arrays)))
    function = plan.functions.get(owners)
    if function is None:
        try:
            function = plan.functions[owners] = _codegen.evaluator(roots, (*plan.variables, *owners))
        except ArgumentError as error:  # a size that no variable fixes
            raise UnfixedSizeError(str(error)) from None
    try:
        results = function(*arrays)  # it checks the shapes against each other, raising ValueError
    except np.linalg.LinAlgError as error:
        raise EvaluationError(f"a singular matrix: {error}") from None
    except ValueError as error:  # a shape, or a value outside a function's domain (logdet)
        _check_sizes(plan, dict(zip([*plan.variables, *owners], arrays)))  # the shapes, in matdiff's words
        raise EvaluationError(str(error)) from None
    return [results] if len(roots) == 1 else list(results)


class _Plan(NamedTuple):
    variables: dict[str, Expr]  # by name, sorted
    named: list[tuple[Dim, str, int]]  # sizes named after a variable (m_X, n_X): (its class, owner, axis)
    shapes: dict[str, tuple[Dim, ...]]  # each variable's shape, as dimension classes
    owners: list[str]  # names that own a size but are not variables of the expressions
    functions: dict[tuple[str, ...], Callable[..., Any]]  # the compiled program, by the owners given


def _plan(roots: Sequence[Expr]) -> _Plan:
    """The variables and the sizes to bind, worked out once per set of roots."""
    key = ("plan", tuple(roots[1:]))
    plan = roots[0]._memo.get(key)
    if plan is None:
        nodes = postorder(roots)
        classes = dim_classes(roots)
        found = dict(sorted((node.attrs[0], node) for node in nodes if node.op == "var"))
        dims = sorted({d for node in nodes for d in node.shape if isinstance(d, str) and d[:2] in ("m_", "n_")})
        named = [(classes.find(d), d[2:], 0 if d[0] == "m" else -1) for d in dims]
        shapes = {name: classes.canonical(node.shape) for name, node in found.items()}
        owners = sorted({owner for _, owner, _ in named if owner not in found})
        plan = roots[0]._memo[key] = _Plan(found, named, shapes, owners, {})
    return plan


def _check_sizes(plan: _Plan, arrays: Mapping[str, np.ndarray]) -> None:
    """Every size the naming scheme ties to an argument's axis must agree with the others (and with a
    fixed size), and every variable must have the shape that follows."""
    sizes: dict[Dim, int] = {}
    for root, owner, axis in plan.named:
        array = arrays.get(owner)
        if array is not None and array.ndim:
            size = array.shape[axis]
            if (root if isinstance(root, int) else sizes.setdefault(root, size)) != size:
                _disagreement(plan, arrays)
    for name, roots in plan.shapes.items():
        shape = arrays[name].shape
        if len(shape) == len(roots) and all(size == sizes.get(root, root) for size, root in zip(shape, roots)):
            continue
        expected = tuple(root if isinstance(root, int) else sizes.get(root, -1) for root in roots)
        if shape != expected:
            unknown = [root for root, size in zip(roots, expected) if size == -1]
            if unknown:
                raise UnfixedSizeError(unfixed_size(unknown[0]))
            raise EvaluationError(f"{name} has shape {arrays[name].shape}, expected {expected}")


def _disagreement(plan: _Plan, arrays: Mapping[str, np.ndarray]) -> None:
    """Raise the EvaluationError that names the two arrays whose sizes disagree."""
    sizes: dict[Dim, tuple[int, str]] = {}
    for root, owner, axis in plan.named:
        array = arrays.get(owner)
        if array is None or not array.ndim:
            continue
        size, origin = array.shape[axis], f"{owner} (axis {axis % array.ndim} of shape {array.shape})"
        if isinstance(root, int) and root != size:
            raise EvaluationError(f"{origin} has size {size} where the expression needs {root}")
        seen, where = sizes.setdefault(root, (size, origin))
        if seen != size:
            raise EvaluationError(f"{origin} has size {size}, but {where} has size {seen}; they must agree")
