"""Lowering: an expression DAG to a straight-line program of matrix operations.

The engine's products are n-ary einsums; evaluating them as such costs a planning step per call and loses
the matrix structure. `lower` turns the DAG of one or several expressions into a `Program`: named
temporaries computed by a small vocabulary of array operations (matrix products, transposes, broadcasting
products, sums over axes, element-wise functions, solves, ...) that every backend can spell. The same
program serves code generation (`_codegen`), compiled evaluation (`expr.evaluate`) and, later, printing
with named subexpressions.

What the lowering does, beyond a translation:
- each instruction is value-numbered, so work shared by the value, the gradient and the Hessian (and by
  the products inside them) is computed once; products are contracted pairwise, preferring pairs already
  computed, then the cheapest by an estimate of their cost (every symbolic size taken as large);
- ``inv(X) B`` is a solve with X (``inv(X)' B`` one with X'), never an inverse times B; where X is solved
  against more than once, one factorisation serves every solve (backends with a factor/solve pair);
- ``logdet`` comes from slogdet;
- a constant along some axes (``ones``, ``vector(c)``, ``diag(v) X``) stays a smaller array that
  broadcasts: diagonal matrices are never formed except where one is the result itself.
"""

from __future__ import annotations

import itertools
import keyword
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import _expr as E
from ._errors import ArgumentError, EvaluationError
from ._expr import Dim, Expr, split_coefficient
from ._registry import REGISTRY, STRUCTURAL, Kind, lookup
from ._shapes import DimClasses, dim_classes

# ---------------------------------------------------------------------------------------------
# The program

OPERATIONS = {  # each instruction's meaning; `_codegen.Backend.spell` writes each one for every backend
    "matmul": "a @ b, for 1-D and 2-D operands",
    "mul": "a * b, element-wise with broadcasting",
    "add": "the sum of the arguments, each times its coefficient (attrs)",
    "scale": "a number (attrs[0], a literal or a size) times a",
    "power": "a ** p (attrs[0])",
    "func": "a registered function (attrs[0]) of a",
    "sum": "the sum of a over the axes attrs[0]",
    "permute": "a with its axes in the order attrs[0]",
    "diagonal": "the diagonal of a's last two axes, as its last axis",
    "tensordot": "a and b contracted over the axis pairs attrs[0], attrs[1]",
    "solve": "X^-1 B (X'^-1 B where attrs[0]); args (X, B) or (factorisation, X, B)",
    "factor": "a factorisation of X, for several solves",
    "eye": "the identity of size attrs[0]",
    "full": "an array of shape attrs[0] filled with the number attrs[1]",
    "broadcast": "a broadcast to the shape attrs[0]",
    "array": "a Python number (attrs[0]) as a 0-d array",
}
"""The instruction vocabulary. `inv`, `det` and `logdet` are `func` instructions, like every registered function."""


@dataclass(frozen=True)
class Instruction:
    """`target = op(*args; attrs)`: args name parameters or earlier targets (or views of them)."""

    target: str
    op: str
    args: tuple[str, ...]
    attrs: tuple = ()


@dataclass(frozen=True)
class Parameter:
    """An argument of the program: the variable's name, its Python identifier, kind and dimensions."""

    name: str
    ident: str
    kind: str
    ndim: int
    used: bool
    axes: tuple[tuple[str, bool], ...]  # per axis: the size's identifier, and whether this binds it
    reads: tuple[tuple[str, int], ...] = ()  # for an unused argument: sizes read from its axes (size, axis)


@dataclass
class Program:
    """A straight-line program: parameters, then instructions, then one output per expression."""

    exprs: tuple[Expr, ...]
    parameters: tuple[Parameter, ...]
    instructions: list[Instruction]
    outputs: tuple[str, ...]
    output_shapes: tuple[tuple[str, ...], ...]  # each output's shape, as size identifiers or literals
    sizes: dict[str, str] = field(default_factory=dict)  # size identifier -> the variable axis it is read from

    def uses(self, op: str) -> bool:
        """Whether an instruction `op` appears in the program."""
        return any(i.op == op for i in self.instructions)

    def __str__(self) -> str:
        lines = [f"{i.target} = {i.op}({', '.join(i.args)}{'; ' + repr(i.attrs) if i.attrs else ''})"
                 for i in self.instructions]  # fmt: skip
        return "\n".join([*lines, "return " + ", ".join(self.outputs)])


# ---------------------------------------------------------------------------------------------
# Values: what a node lowers to


@dataclass(frozen=True)
class Value:
    """A lowered node: `ref` (an identifier, a view such as ``A.T``, or a Python number) holds the array
    of the node's axes listed in `axes`; the node is constant along its other axes (it broadcasts)."""

    ref: str
    axes: tuple[int, ...]
    number: bool = False  # a Python number (a literal, or a size times a literal), not an array


@dataclass(frozen=True)
class Term:
    """An operand of a product: an array and the einsum label of each of its axes. `inverse` is set where
    the operand is inv(X) and not formed: `ref` is then X."""

    ref: str
    labels: tuple[int, ...]
    inverse: bool = False


_ASSUMED_SIZE = 1000  # every symbolic size is taken as large when choosing contraction orders


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


class _Lowering:
    def __init__(self, classes: DimClasses, size_names: dict[Dim, str], parameter_names: dict[str, str]) -> None:
        self.classes = classes
        self.parameter_names = parameter_names
        self.size_names = size_names
        self.instructions: list[Instruction] = []
        self.numbered: dict[tuple, str] = {}
        self.done: dict[Expr, Value] = {}
        self.pairs: dict[tuple, Term] = {}
        self.paired: set[tuple[str, str]] = set()  # the operands of the contractions in `pairs`
        self.temporaries = (f"t{k}" for k in itertools.count())
        self.label_sizes: dict[int, int] = {}

    # Instructions, value-numbered -----------------------------------------------------------------

    def emit(self, op: str, args: tuple[str, ...], attrs: tuple = ()) -> str:
        key = (op, args, attrs)
        target = self.numbered.get(key)
        if target is None:
            target = next(self.temporaries)
            self.instructions.append(Instruction(target, op, args, attrs))
            self.numbered[key] = target
        return target

    def size(self, dim: Dim) -> str:
        """The identifier (or literal) of a size, for code that needs it."""
        root = self.classes.find(dim)
        if isinstance(root, int):
            return str(root)
        name = self.size_names.get(root)
        if name is None:
            raise ArgumentError(E.unfixed_size(root))
        return name

    def estimate(self, dim: Dim) -> int:
        root = self.classes.find(dim)
        return root if isinstance(root, int) else _ASSUMED_SIZE

    # Views: printed inline, never stored ------------------------------------------------------------

    @staticmethod
    def transpose(ref: str) -> str:
        return ref[:-2] if ref.endswith(".T") else f"{ref}.T"

    @staticmethod
    def expand(ref: str, present: Sequence[bool]) -> str:
        """`ref` with a new axis of size 1 wherever `present` is False (leading ones are implicit)."""
        index = [":" if here else "None" for here in present]
        while index and index[0] == "None":
            index.pop(0)
        if all(item == ":" for item in index):
            return ref
        return f"{ref}[{', '.join(index)}]"

    def array(self, value: Value) -> str:
        """An array for `value`: a Python number becomes a 0-d array."""
        return self.emit("array", (), (value.ref,)) if value.number else value.ref

    def full(self, value: Value, node: Expr) -> str:
        """The whole array of `node`, broadcast where `value` holds fewer axes."""
        if value.axes == tuple(range(node.ndim)) and not value.number:
            return value.ref
        shape = tuple(self.size(d) for d in node.shape)
        if value.number:
            return self.emit("full", (), (shape, value.ref))
        present = [axis in value.axes for axis in range(node.ndim)]
        return self.emit("broadcast", (self.expand(value.ref, present),), (shape,))

    # Lowering the DAG, iteratively ----------------------------------------------------------------

    def needs(self, node: Expr) -> list[Expr]:
        inner = _softplus_argument(node)
        if inner is not None:
            return [inner]
        if node.op == "add":
            return [split_coefficient(term)[1] for term in node.args]
        if node.op == "einsum":
            return [arg.args[0] if arg.op == "inv" else arg for arg in node.args]
        return list(node.args)

    def lower(self, root: Expr) -> Value:
        stack = [root]
        while stack:
            node = stack[-1]
            if node in self.done:
                stack.pop()
                continue
            missing = [child for child in self.needs(node) if child not in self.done]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            self.done[node] = self.node(node)
        return self.done[root]

    def node(self, node: Expr) -> Value:
        op = node.op
        everything = tuple(range(node.ndim))
        if op == "var":
            return Value(self.parameter_names[node.attrs[0]], everything)
        if op == "const":
            return Value(_number(node.attrs[0]), (), number=True)
        if op in ("ones", "zeros"):
            return Value("1" if op == "ones" else "0", (), number=True)
        if op == "delta":
            return Value(self.emit("eye", (), (self.size(node.shape[0]),)), (0, 1))
        if op == "row":
            return self.done[node.args[0]]
        if op == "hole":
            raise EvaluationError("a factoring placeholder cannot be evaluated")
        if op == "add":
            return self.sum_of(node)
        if op == "einsum":
            return self.product(node)
        inner = _softplus_argument(node)
        if inner is not None:  # log(1 + exp(t)) overflows for t > 709; softplus(t) is the same, computed stably
            value = self.done[inner]
            return Value(self.emit("func", (self.array(value),), ("softplus",)), value.axes)
        child = self.done[node.args[0]]
        if op == "pow":
            return Value(self.emit("power", (self.array(child),), (node.attrs[0],)), child.axes)
        operation = lookup(op)  # raises UnknownOperation for a name nothing declares
        if operation.kind is Kind.ELEMENTWISE:
            return Value(self.emit("func", (self.array(child),), (op,)), child.axes)
        whole = self.full(child, node.args[0])
        return Value(self.emit("func", (whole,), (op, node.args[0].ndim)), everything)  # a whole array

    def sum_of(self, node: Expr) -> Value:
        parts = [split_coefficient(term) for term in node.args]
        values = [self.done[base] for _, base in parts]
        union = tuple(sorted({axis for value in values for axis in value.axes}))
        refs, coefficients = [], []
        for (coefficient, _), value in zip(parts, values):
            if value.number:
                refs.append(value.ref)
            else:
                refs.append(self.expand(value.ref, [axis in value.axes for axis in union]))
            coefficients.append(coefficient)
        if all(value.number for value in values):
            terms = " + ".join(f"{_number(c)} * {ref}" for c, ref in zip(coefficients, refs))
            return Value(f"({terms})", (), number=True)
        return Value(self.emit("add", tuple(refs), tuple(coefficients)), union)

    # Products ----------------------------------------------------------------------------------------

    def product(self, node: Expr) -> Value:
        subs, out = node.attrs
        label_dims = {label: dim for arg, labels in zip(node.args, subs) for label, dim in zip(labels, arg.shape)}
        numbers: list[str] = []  # Python numbers: literals, and sizes of axes summed over a constant
        scalars: list[str] = []  # 0-d arrays
        terms: list[Term] = []
        covered: set[int] = set()  # labels that some array operand carries
        for arg, labels in zip(node.args, subs):
            if arg.op == "inv":  # kept as X, to be solved against where the product allows
                matrix = self.full(self.done[arg.args[0]], arg.args[0])
                if len(set(labels)) == 2:
                    terms.append(Term(matrix, labels, inverse=True))
                    covered.update(labels)
                    continue
                value = Value(self.emit("func", (matrix,), ("inv", 2)), (0, 1))
            else:
                value = self.done[arg]
            kept = tuple(labels[axis] for axis in value.axes)
            if value.number:
                numbers.append(value.ref)
            elif not kept:
                scalars.append(value.ref)
            else:
                terms.append(self.diagonals(Term(value.ref, kept)))
                covered.update(kept)
        for label in sorted({x for labels in subs for x in labels} - covered - set(out)):
            numbers.append(self.size(label_dims[label]))  # sum over an axis the operands are constant along
        numbers = [n for n in numbers if n != "1"]
        coefficient = " * ".join(numbers)
        self.label_sizes = {label: self.estimate(dim) for label, dim in label_dims.items()}
        if terms:
            result = self.contract_all(terms, set(out))
            present = tuple(label for label in out if label in result.labels)
            ref = self.arrange(result, present)
            axes = tuple(out.index(label) for label in present)
        elif scalars:
            ref, axes = scalars.pop(0), ()
        else:
            return Value(f"({coefficient})" if len(numbers) > 1 else coefficient or "1", (), number=True)
        for scalar in scalars:
            ref = self.emit("mul", (ref, scalar))
        if coefficient:
            ref = self.emit("scale", (ref,), (coefficient,))
        return Value(ref, axes)

    def diagonals(self, term: Term) -> Term:
        """A[i,i] and the like: repeated labels become one axis (the diagonal)."""
        ref, labels = term.ref, term.labels
        while len(set(labels)) < len(labels):
            repeated = next(x for x in labels if labels.count(x) > 1)
            first = labels.index(repeated)
            second = labels.index(repeated, first + 1)
            rest = [k for k in range(len(labels)) if k not in (first, second)]
            ref = self.permuted(ref, tuple(rest + [first, second]))
            ref = self.emit("diagonal", (ref,))
            labels = tuple(labels[k] for k in rest) + (repeated,)
        return Term(ref, labels)

    def permuted(self, ref: str, order: tuple[int, ...]) -> str:
        if order == tuple(range(len(order))):
            return ref
        if order == (1, 0):
            return self.transpose(ref)
        return self.emit("permute", (ref,), (order,))

    def arrange(self, term: Term, labels: tuple[int, ...]) -> str:
        """The term's array with its axes in the order of `labels` (summing any others)."""
        term = self.reduce(term, set(labels))
        if term.inverse:
            term = self.formed(term)
        return self.permuted(term.ref, tuple(term.labels.index(x) for x in labels))

    def reduce(self, term: Term, keep: set[int]) -> Term:
        """Sum a term over the labels it alone carries and nothing later needs."""
        gone = [k for k, label in enumerate(term.labels) if label not in keep]
        if not gone:
            return term
        term = self.formed(term) if term.inverse else term
        ref = self.emit("sum", (term.ref,), (tuple(gone),))
        return Term(ref, tuple(x for x in term.labels if x not in set(term.labels[k] for k in gone)))

    def formed(self, term: Term) -> Term:
        """An inverse operand as an array: inv(X) itself."""
        return Term(self.emit("func", (term.ref,), ("inv", 2)), term.labels) if term.inverse else term

    def cost(self, a: Term, b: Term, keep: set[int]) -> tuple:
        union = set(a.labels) | set(b.labels)
        flops = math.prod(self.label_sizes[x] for x in union)
        result = math.prod(self.label_sizes[x] for x in union & keep)
        known = (a.ref, b.ref) in self.paired and (self.pair_key(a, b, keep) in self.pairs
                                                   or self.pair_key(b, a, keep) in self.pairs)  # fmt: skip
        # an outer product last, even one computed before: contracting it later costs more than it saves
        return (not set(a.labels) & set(b.labels), not known, flops, result)

    @staticmethod
    def pair_key(a: Term, b: Term, keep: set[int]) -> tuple:
        """The contraction of a and b, whatever the labels are called: equal keys, equal instructions."""
        rename: dict[int, int] = {}
        for label in a.labels + b.labels:
            rename.setdefault(label, len(rename))
        kept = tuple(sorted(rename[x] for x in rename if x in keep))
        return (a.ref, a.inverse, tuple(rename[x] for x in a.labels), b.ref, b.inverse,
                tuple(rename[x] for x in b.labels), kept)  # fmt: skip

    def contract_all(self, terms: list[Term], out: set[int]) -> Term:
        """Contract the terms pairwise: never an outer product while a pair shares a label, then a pair
        already computed, then the cheapest."""
        while True:
            carriers = Counter(x for t in terms for x in set(t.labels))
            terms = [self.reduce(t, {x for x in t.labels if x in out or carriers[x] > 1}) for t in terms]
            if len(terms) == 1:
                return terms[0]
            carriers = Counter(x for t in terms for x in set(t.labels))
            holders: dict[int, list[int]] = {}
            for k, t in enumerate(terms):
                for x in set(t.labels):
                    holders.setdefault(x, []).append(k)
            sharing = {pair for ks in holders.values() for pair in itertools.combinations(ks, 2)}
            best = None
            for i, j in sorted(sharing) or itertools.combinations(range(len(terms)), 2):
                a, b = terms[i], terms[j]
                union = set(a.labels) | set(b.labels)
                keep = {x for x in union if x in out or carriers[x] > (x in a.labels) + (x in b.labels)}
                score = self.cost(a, b, keep)
                if best is None or score < best[0]:
                    best = (score, i, j, keep)
            assert best is not None
            _, i, j, keep = best
            merged = self.pair(terms[i], terms[j], keep)
            terms = [t for k, t in enumerate(terms) if k not in (i, j)] + [merged]

    def pair(self, a: Term, b: Term, keep: set[int]) -> Term:
        """The contraction of two terms, reusing the instructions of an equal one seen before."""
        if self.pair_key(a, b, keep) not in self.pairs and self.pair_key(b, a, keep) in self.pairs:
            a, b = b, a  # the same contraction, seen with the operands the other way round
        rename: dict[int, int] = {}
        for label in a.labels + b.labels:
            rename.setdefault(label, len(rename))
        key = self.pair_key(a, b, keep)
        known = self.pairs.get(key)
        if known is None:
            result = self.contract(a, b, keep)
            known = self.pairs[key] = Term(result.ref, tuple(rename[x] for x in result.labels), result.inverse)
            self.paired.update({(a.ref, b.ref), (b.ref, a.ref)})
        back = {new: old for old, new in rename.items()}
        return Term(known.ref, tuple(back[x] for x in known.labels), known.inverse)

    def contract(self, a: Term, b: Term, keep: set[int]) -> Term:
        shared = [x for x in a.labels if x in b.labels]
        contracted = [x for x in shared if x not in keep]
        batch = [x for x in shared if x in keep]
        if b.inverse and not a.inverse:
            a, b = b, a
        if a.inverse:
            solved = self.solve(a, self.formed(b), contracted, batch)
            if solved is not None:
                return solved
            a = self.formed(a)
        b = self.formed(b)
        only_a = [x for x in a.labels if x not in shared]
        only_b = [x for x in b.labels if x not in shared]
        if not batch and len(contracted) == 1 and len(a.labels) <= 2 and len(b.labels) <= 2:
            return self.matmul(a, b, contracted[0])
        if not batch and contracted:
            axes_a = tuple(a.labels.index(x) for x in contracted)
            axes_b = tuple(b.labels.index(x) for x in contracted)
            return Term(self.emit("tensordot", (a.ref, b.ref), (axes_a, axes_b)), tuple(only_a + only_b))
        # element-wise along the shared labels: broadcast both over the union of labels, then sum
        union = list(a.labels) + only_b
        right_order = [x for x in union if x in b.labels]
        right = self.permuted(b.ref, tuple(b.labels.index(x) for x in right_order))
        left = self.expand(a.ref, [x in a.labels for x in union])
        right = self.expand(right, [x in b.labels for x in union])
        ref = self.emit("mul", (left, right))
        if contracted:
            ref = self.emit("sum", (ref,), (tuple(union.index(x) for x in contracted),))
        return Term(ref, tuple(x for x in union if x not in contracted))

    def matmul(self, a: Term, b: Term, c: int) -> Term:
        """A matrix or vector product over the label c, in the operand order that needs fewer transposes."""

        def transposes(left: Term, right: Term) -> int:
            left_flipped = len(left.labels) == 2 and left.labels[1] != c
            return int(left_flipped) + int(len(right.labels) == 2 and right.labels[0] != c)

        left, right = (b, a) if transposes(b, a) < transposes(a, b) else (a, b)
        free_left = [x for x in left.labels if x != c]
        free_right = [x for x in right.labels if x != c]
        left_ref = self.permuted(left.ref, tuple(left.labels.index(x) for x in free_left + [c]))
        right_ref = self.permuted(right.ref, tuple(right.labels.index(x) for x in [c] + free_right))
        return Term(self.emit("matmul", (left_ref, right_ref)), tuple(free_left + free_right))

    def solve(self, inverse: Term, other: Term, contracted: list[int], batch: list[int]) -> Term | None:
        """inv(X)[p,q] B[q,...] as solve(X, B), or over p as solve(X', B); None where no solve fits."""
        p, q = inverse.labels
        if batch or len(contracted) != 1 or p == q or len(other.labels) > 2:
            return None
        (c,) = contracted
        if (p if c == q else q) in other.labels:
            return None
        if self.numbered.get(("func", (inverse.ref,), ("inv", 2))):
            return None  # inv(X) is formed anyway: multiply by it
        rest = [x for x in other.labels if x != c]
        rhs = self.permuted(other.ref, tuple(other.labels.index(x) for x in [c] + rest))
        transposed = c == p
        ref = self.emit("solve", (inverse.ref, rhs), (transposed, len(other.labels)))
        return Term(ref, ((q if transposed else p),) + tuple(rest))


def _share_factorisations(instructions: list[Instruction]) -> list[Instruction]:
    """Where one matrix is solved against more than once, factor it once before the first solve."""
    counts: dict[str, int] = {}
    for instruction in instructions:
        if instruction.op == "solve":
            counts[instruction.args[0]] = counts.get(instruction.args[0], 0) + 1
    shared = {matrix for matrix, count in counts.items() if count > 1}
    if not shared:
        return instructions
    result, factors = [], {}
    for instruction in instructions:
        if instruction.op == "solve" and instruction.args[0] in shared:
            matrix = instruction.args[0]
            if matrix not in factors:
                factors[matrix] = f"{instruction.target}_lu"
                result.append(Instruction(factors[matrix], "factor", (matrix,)))
            instruction = Instruction(instruction.target, "solve", (factors[matrix],) + instruction.args,
                                      instruction.attrs)  # fmt: skip
        result.append(instruction)
    return result


# ---------------------------------------------------------------------------------------------
# Entry point

RESERVED = frozenset({"np", "jnp", "jax", "torch", "xp", "array_namespace", "dtype", "device", "math"})
"""Identifiers the generated code may use for modules and helpers; parameters keep their names elsewhere."""


def identifier(name: str, taken: set[str]) -> str:
    """`name` as a fresh Python identifier: a keyword, a reserved name or a clash gets underscores."""
    base = name if name.isidentifier() else "_" + "".join(ch if ch.isalnum() else "_" for ch in name)
    candidate = base
    while keyword.iskeyword(candidate) or candidate in taken or candidate in RESERVED or candidate.startswith("t") \
            and candidate[1:].isdigit():  # fmt: skip
        candidate += "_"
    taken.add(candidate)
    return candidate


def _softplus_argument(node: Expr) -> Expr | None:
    """t, where node is log(1 + exp(t)) (the logistic loss as the lecture writes it), else None."""
    if node.op != "log":
        return None
    inside = node.args[0]
    if inside.op == "add" and len(inside.args) == 2:
        for one, other in (inside.args, inside.args[::-1]):
            if (one.op == "ones" or E.is_const(one, 1.0)) and other.op == "exp":
                return other.args[0]
    return None

def lower(exprs: Sequence[Expr], args: Sequence[str] | None = None) -> Program:
    """The program computing `exprs` from the variables named by `args` (default: every variable of the
    expressions, alphabetically). A name in `args` that no expression uses is a parameter that is ignored,
    except that it fixes the sizes named after it (the derivative x*y' of x'*A*y by A has A's shape)."""
    roots = tuple(exprs)
    found = E.variables(roots)
    names = list(found) if args is None else list(args)
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise ArgumentError(f"args names {', '.join(repeated)} more than once")
    missing = [name for name in found if name not in names]
    if missing:
        raise ArgumentError(f"args must include every variable of the expressions; missing: {', '.join(missing)}")
    for name in names:
        if not isinstance(name, str) or not name:
            raise ArgumentError(f"args must be variable names, got {name!r}")
    for node in E.postorder(roots):
        if node.op not in STRUCTURAL and node.op not in REGISTRY:
            lookup(node.op)  # a rogue node: UnknownOperation
    classes = dim_classes(roots)
    taken: set[str] = set()
    idents = {name: identifier(name, taken) for name in names}
    size_names: dict[Dim, str] = {}
    parameters = []
    for name in names:
        variable = found.get(name)
        if variable is None:
            parameters.append(Parameter(name, idents[name], "unused", -1, False, ()))
            continue
        axes = []
        for dim in variable.shape:
            size = classes.find(dim)
            if isinstance(size, int):
                axes.append((str(size), False))
            elif size in size_names:
                axes.append((size_names[size], False))
            else:
                size_names[size] = identifier(str(size).lstrip("_") or "n", taken)
                axes.append((size_names[size], True))
        parameters.append(Parameter(name, idents[name], variable.attrs[1], variable.ndim, True, tuple(axes)))
    # an argument no expression uses still fixes the sizes named after it (m_A, n_A: A's first and last axes)
    members: dict[Dim, list[str]] = {}
    for member in E.postorder(roots):
        for dim in member.shape:
            if isinstance(dim, str):
                members.setdefault(classes.find(dim), []).append(dim)
    for k, p in enumerate(parameters):
        if p.used:
            continue
        reads = []
        for representative, dims in members.items():
            for axis, prefix in ((0, "m_"), (-1, "n_")):
                if representative not in size_names and prefix + p.name in dims:
                    size_names[representative] = identifier(str(representative).lstrip("_") or "n", taken)
                    reads.append((size_names[representative], axis))
        parameters[k] = Parameter(p.name, p.ident, p.kind, p.ndim, False, (), tuple(reads))
    lowering = _Lowering(classes, size_names, idents)
    for root in reversed(roots):  # the highest derivative first: the value then reuses its products
        lowering.lower(root)
    outputs, shapes = [], []
    for root in roots:
        value = lowering.done[root]
        ref = lowering.full(value, root) if root.ndim else lowering.array(value)
        outputs.append(ref)
        shapes.append(tuple(lowering.size(d) for d in root.shape))
    sizes = {ident: f"{p.ident}.shape[{k}]" for p in parameters for k, (ident, binds) in enumerate(p.axes) if binds}
    sizes.update((ident, f"{p.ident}.shape[{axis}]") for p in parameters for ident, axis in p.reads)
    return Program(roots, tuple(parameters), _share_factorisations(lowering.instructions), tuple(outputs),
                   tuple(shapes), sizes)  # fmt: skip
