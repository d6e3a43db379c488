"""Expressions in schedules, as Deforum writes them: `0:(0.01 + 0.005*sin(2*pi*t/48))`. Parsed once with
Python's `ast` and checked against a whitelist of node types, names and functions, then evaluated in floats
by a small interpreter over the checked tree: never `eval`, no attribute, no subscript, no keyword, no
lambda, no comprehension. Floats (not Python's unbounded integers) keep `9**9**9` from hanging: it
overflows at once, and an overflow, a division by zero or a domain error is a UserError naming the frame."""
from __future__ import annotations

import ast
import math
import operator
from dataclasses import dataclass, field
from typing import Callable

from .errors import UserError

# The variables an expression may read: the source frame, its time in seconds, and the soundtrack's
# smoothed loudness at that frame (0 quietest .. 1 loudest), besides the constant pi.
VARIABLES = ("t", "s", "a")
CONSTANTS = {"pi": math.pi}

FUNCTIONS: dict[str, tuple[Callable[..., float], int, int | None]] = {  # name: (function, fewest, most arguments)
    "sin": (math.sin, 1, 1), "cos": (math.cos, 1, 1), "tan": (math.tan, 1, 1), "abs": (abs, 1, 1),
    "min": (min, 2, None), "max": (max, 2, None), "floor": (math.floor, 1, 1), "ceil": (math.ceil, 1, 1),
    "sqrt": (math.sqrt, 1, 1), "exp": (math.exp, 1, 1), "log": (math.log, 1, 1),
}

def _power(base: float, exponent: float) -> float:
    result = base ** exponent
    if isinstance(result, complex):  # Python's answer to (-8) ** 0.5
        raise ValueError("a negative number to a fractional power")
    return result


_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Mod: operator.mod, ast.Pow: _power}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}

MAX_LENGTH = 500  # characters of one expression: a schedule is typed, not generated
MAX_DEPTH = 32  # nested operations, well past any hand-written one, far from Python's recursion limit
MAX_EXPONENT = 100.0  # a written exponent past this is a typo, or an attempt to hang the planner


@dataclass(frozen=True)
class Expression:
    """One key's value as an expression; equal to another of the same text."""

    text: str
    names: frozenset[str]  # the variables it reads (of VARIABLES)
    _run: Callable[[dict[str, float]], float] = field(compare=False, repr=False)

    @classmethod
    def parse(cls, text: str, name: str = "value") -> "Expression":
        """A UserError, naming `name` and the expression, for anything outside the whitelist."""
        if len(text) > MAX_LENGTH:
            raise _bad(text, name, f"longer than {MAX_LENGTH} characters")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as error:
            raise _bad(text, name, f"not an expression ({error.msg})") from None
        except (ValueError, RecursionError, MemoryError):
            raise _bad(text, name, "not an expression") from None
        names: set[str] = set()
        run = _compile(tree.body, text, name, names, 0)
        return cls(text.strip(), frozenset(names), run)

    @property
    def constant(self) -> bool:
        return not self.names

    def __call__(self, t: float, s: float, a: float | None = None, where: str = "") -> float:
        """The value at frame `t` (`s` seconds in; `a` the loudness, needed only if it reads `a`)."""
        if "a" in self.names and a is None:
            raise UserError(f"'{self.text}' reads the loudness a: only a video with audio has a soundtrack")
        try:
            value = float(self._run({"t": float(t), "s": float(s), "a": 0.0 if a is None else float(a)}))
        except ZeroDivisionError:
            raise UserError(f"'{self.text}' divides by zero{where}") from None
        except OverflowError:
            raise UserError(f"'{self.text}' is too large to compute{where}") from None
        except (ValueError, TypeError) as error:  # log(0), sqrt(-1), a negative number to a fractional power
            raise UserError(f"'{self.text}' cannot be computed{where} ({error})") from None
        if not math.isfinite(value):
            raise UserError(f"'{self.text}' is not a finite number{where} (got {value})")
        return value

    def __str__(self) -> str:
        return self.text


def _bad(text: str, name: str, why: str) -> UserError:
    known = ", ".join([*VARIABLES, *CONSTANTS, *FUNCTIONS])
    text = text.strip() if len(text.strip()) <= 80 else text.strip()[:60] + "..."
    return UserError(f"bad expression '{text}' in the schedule for {name}: {why} (expressions use numbers, "
                     f"+ - * / % **, parentheses and {known})")


def _compile(node: ast.AST, text: str, name: str, names: set[str], depth: int) -> Callable[[dict], float]:
    """The checked node as a closure over its checked children (so evaluating never looks at the tree). A part
    that reads no variable is computed now, so `9**9**9` or `log(0)` is refused here, not at some frame."""
    run = _compile_node(node, text, name, names, depth)
    if isinstance(node, (ast.Constant, ast.Name)) or _reads_variables(node):
        return run
    try:
        value = float(run({}))
    except (ArithmeticError, ValueError, TypeError) as error:
        raise _bad(text, name, f"{ast.unparse(node)} cannot be computed ({error})") from None
    return lambda env: value


def _reads_variables(node: ast.AST) -> bool:
    return any(isinstance(child, ast.Name) and child.id in VARIABLES for child in ast.walk(node))


def _compile_node(node: ast.AST, text: str, name: str, names: set[str], depth: int) -> Callable[[dict], float]:
    if depth > MAX_DEPTH:
        raise _bad(text, name, f"nested deeper than {MAX_DEPTH}")
    deeper = depth + 1
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = float(node.value)
        return lambda env: value
    if isinstance(node, ast.Name):
        if node.id in VARIABLES:
            names.add(node.id)
            variable = node.id
            return lambda env: env[variable]
        if node.id in CONSTANTS:
            value = CONSTANTS[node.id]
            return lambda env: value
        hint = f": {node.id} is a function, call it" if node.id in FUNCTIONS else ""
        raise _bad(text, name, f"unknown name {node.id}{hint}")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _compile(node.left, text, name, names, deeper), _compile(node.right, text, name, names, deeper)
        if isinstance(node.op, ast.Pow) and not _reads_variables(node.right) and abs(right({})) > MAX_EXPONENT:
            raise _bad(text, name, f"an exponent above {MAX_EXPONENT:g} ({ast.unparse(node.right)})")
        op = _BINARY[type(node.op)]
        return lambda env: op(left(env), right(env))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        inner, op = _compile(node.operand, text, name, names, deeper), _UNARY[type(node.op)]
        return lambda env: op(inner(env))
    if isinstance(node, ast.Call):
        return _call(node, text, name, names, deeper)
    raise _bad(text, name, f"{_describe(node)} is not allowed")


def _call(node: ast.Call, text: str, name: str, names: set[str], depth: int) -> Callable[[dict], float]:
    if not isinstance(node.func, ast.Name):
        raise _bad(text, name, f"calling {ast.unparse(node.func)} is not allowed ({_describe(node.func)})")
    if node.func.id not in FUNCTIONS:
        raise _bad(text, name, f"{node.func.id} is not a function dreamvid knows")
    if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
        raise _bad(text, name, f"{node.func.id}() takes plain arguments")
    function, fewest, most = FUNCTIONS[node.func.id]
    if len(node.args) < fewest or (most is not None and len(node.args) > most):
        count = f"{fewest}" if fewest == most else f"{fewest} or more"
        raise _bad(text, name, f"{node.func.id}() takes {count} argument{'s' if count != '1' else ''}")
    args = [_compile(arg, text, name, names, depth) for arg in node.args]
    return lambda env: function(*(arg(env) for arg in args))


_NAMES = {ast.Attribute: "attribute access", ast.Subscript: "indexing", ast.Lambda: "lambda",
          ast.ListComp: "a comprehension", ast.SetComp: "a comprehension", ast.DictComp: "a comprehension",
          ast.GeneratorExp: "a comprehension", ast.Compare: "a comparison", ast.BoolOp: "and/or",
          ast.IfExp: "if/else", ast.NamedExpr: "assignment", ast.Constant: "this constant",
          ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict", ast.Set: "a set",
          ast.JoinedStr: "a string", ast.Await: "await", ast.Yield: "yield", ast.Starred: "unpacking"}


_OPERATORS = {ast.FloorDiv: "//", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|",
              ast.BitXor: "^", ast.BitAnd: "&", ast.Invert: "~", ast.Not: "not"}


def _describe(node: ast.AST) -> str:
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        return f"the operator {_OPERATORS.get(type(node.op), type(node.op).__name__)}"
    if isinstance(node, ast.Constant):
        return f"the constant {node.value!r}"
    return _NAMES.get(type(node), type(node).__name__)
