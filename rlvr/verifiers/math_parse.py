"""Answer text (LaTeX or plain math) -> structured value with sympy leaves, without ever evaluating text as Python.

sympy's `sympify`, `parse_expr` and `parse_latex` run `eval` (or need antlr); model text must never reach them. This
module has its own tokenizer and recursive-descent parser, and builds sympy objects only through constructors
(`Integer`, `Rational`, `Symbol`, `Add`, `Mul`, `Pow`, `sin`, ...). Sizes are guarded before sympy sees them: text
length, token count, nesting depth, integer literal length, the bit size of an exact power (`9^{9^{9^9}}` is refused,
not computed) and factorial arguments. Anything beyond the grammar raises `ParseError`.

What a parse returns (`parse_answer(text).value`):
  sympy `Expr`                        a number or expression (decimals become exact `Rational`s; `has_decimal` says so)
  `Quantity(value, unit)`             a value and its unit: `5\\text{ cm}`, `50\\%` (unit "%"), `30^\\circ` ("deg")
  `Rel(ops, parts)`                   `x = 5`, `y = 2x+1`, `1 < x \\le 3`, `x \\in \\{1, 2\\}` (op "in")
  `Seq(kind, items)`                  kind "list" (top-level `2, 3` / `2 or 3` / `2, 3, and 5`), "tuple" (3+ items in
                                      parentheses or brackets), "paren" (`(a, b)`: a point or an open interval),
                                      "set" (`\\{...\\}`), "ratio" (`7:32`, `12:00`)
  `Interval(lo, hi, lo_closed, hi_closed)`, `Union(parts)` (`\\cup`), `Matrix(rows)` (pmatrix/bmatrix/matrix/array)

Conventions (documented choices, not accidents):
  * Fullwidth and other compatibility characters are folded by NFKC (`３` -> `3`); digits of other scripts
    (Arabic-Indic `٣`) are not read as numbers, so such an answer does not parse.
  * A comma between digits is a thousands separator only outside brackets and only before groups of exactly three
    digits (`1,000` = 1000, `11,\\!111` = 11111, but `[1,100]` is an interval and `1,5` is the list 1, 5). A single
    space before groups of three digits also groups thousands (`1 000` = 1000; `2 1/2` stays a mixed number). In
    LaTeX, `{,}` is a thousands separator before three digits and a decimal comma otherwise (`3{,}14` = 3.14);
    `1\\,000` = 1000. Decimals may follow grouped thousands (`1\\,000.99`).
  * Decimal comma, only where no list reading is plausible: the whole answer is one number written `0,` and 3+
    digits (`0,111` = 0.111) or with 4+ digits, a comma and 1-2 digits (`1000,99` = 1000.99). `0,1`, `0,5`, `1,5`,
    `12,5` and `1000,123` stay lists (`0,1` is as often the two solutions 0 and 1); math.py reads them as decimals
    only against a single number (`1,22` = 1.22), where no list could be right.
  * Currency signs (`\\$`, €, £, ¥, ₹) and currency words are ignored; `pct`, `percent` and `percentage` are `%`.
  * `\\approx` is its own relation (`~`): math.py keeps only the exact part before it.
  * Text escaped twice (`\\\\frac{1}{2}`, with no single-backslash command anywhere) is read once unescaped.
  * An answer that is only a number in words up to ninety-nine (`five`, `twenty-one`) is that number.
  * `\\mathbb{R}` is the interval (-oo, oo).
  * Integer powers too large to compute become `BigPower(p, n)` (p no perfect power), compared structurally;
    symbolic bases keep any exponent. Matrices can be added, scaled and multiplied inside an answer.
  * `\\lfloor x \\rfloor` / `\\lceil x \\rceil` of a number beyond 1e300, and non-integer powers of integers beyond
    4,000 bits, are refused (their exact values would take minutes).
  * `2\\frac{1}{2}` and `2 1/2` are mixed numbers (5/2); a plain `a b/c` only with a proper fraction (`11 7/6` is
    not 73/6: a mixed number's fraction is below 1); other juxtaposed numbers (`7 7`) do not parse.
  * `2^10` (no braces) reads as 2^{10}; `1.2e3` is scientific notation; `e` is Euler's number and `i` the
    imaginary unit; `\\log` without a base is the natural log; `\\sqrt[3]{-8}` is the real root -2.
  * Letter runs: function and constant names are recognised, runs of two or three letters are products
    (`ab` = a*b), longer runs and known unit words (`cm`, `kg`, `dollars`, ...) are words, which may only end a value
    (as its unit).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from fractions import Fraction
from typing import Any

import sympy

MAX_CHARS = 4000  # an answer longer than this is not a final answer
MAX_TOKENS = 1500
MAX_DEPTH = 60  # nesting of brackets / fractions / powers
MAX_POW_BITS = 100_000  # largest exact power we compute (2^100000 takes microseconds; 9^(9^9) is refused)
MAX_SYMBOLIC_EXP = 10_000
MAX_LITERAL_DIGITS = 300
MAX_CELLS = 256  # matrix cells
MAX_FACTORIAL = 1000
MAX_ROOT_BITS = 4000  # a non-integer power of a larger rational is refused (sympy factors it: minutes)
MAX_MAGNITUDE = 1e300  # floor / ceiling of a larger number is refused (the integer would have too many digits)

PM = sympy.Symbol("\\pm")  # placeholder for the sign in `a \pm b`, expanded by `expand_pm`


class ParseError(ValueError):
    """The text is not an answer this grammar reads (or is too large to read safely)."""


@dataclasses.dataclass(frozen=True)
class Quantity:
    value: Any
    unit: str


@dataclasses.dataclass(frozen=True)
class Rel:
    ops: tuple[str, ...]
    parts: tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class Seq:
    kind: str  # "list" | "tuple" | "paren" | "set"
    items: tuple[Any, ...]
    only_or: bool = dataclasses.field(default=False, compare=False)  # a list joined by "or" only: `x<2 or x>3`


@dataclasses.dataclass(frozen=True)
class Interval:
    lo: Any
    hi: Any
    lo_closed: bool
    hi_closed: bool


@dataclasses.dataclass(frozen=True)
class Union:
    parts: tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class Matrix:
    rows: tuple[tuple[Any, ...], ...]


@dataclasses.dataclass(frozen=True)
class Parsed:
    value: Any
    has_decimal: bool  # a decimal or scientific literal was read
    ulp: Fraction | None = None  # unit of the last written digit of the coarsest such literal (`2.50` -> 1/100)


@dataclasses.dataclass(frozen=True)
class Tok:
    kind: str  # num id const func cmd op open close sep rel word unit begin end amp rowsep
    text: str
    space: bool = False  # whitespace before the token


# ---------------------------------------------------------------- normalisation

_UNICODE = {
    "\u2212": "-", "\u2013": "-", "\u00d7": "\\times ", "\u00f7": "\\div ", "\u00b7": "\\cdot ", "\u22c5": "\\cdot ",
    "\u221a": "\\sqrt ", "\u03c0": "\\pi ", "\u221e": "\\infty ", "\u2264": "\\le ", "\u2265": "\\ge ",
    "\u2260": "\\ne ", "\u00b0": "^\\circ ", "\u00b1": "\\pm ", "\u222a": "\\cup ", "\u2044": "/", "\u2208": "\\in ",
    "\u2218": "\\circ ",
}  # fmt: skip
_SUPERSCRIPTS = str.maketrans("\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079\u207b", "0123456789-")
_SUP_RUN = re.compile("[\u2070\u00b9\u00b2\u00b3\u2074-\u2079\u207b]+")
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f~]")


_GLUED_SPACE = re.compile(r"\\(q?quad)(?=[A-Za-z])")


def normalize_text(s: str) -> str:
    """Control characters and `~` -> space; Unicode math symbols -> LaTeX; superscripts -> `^{..}`; then NFKC.
    A spacing command glued to a letter (`,\\quadx_{2}=`, a typo LaTeX itself would reject) is the space and the
    letter: no other command starts with `quad`."""
    s = _CONTROL.sub(" ", s)
    if "quad" in s:
        s = _GLUED_SPACE.sub(r"\\\1 ", s)
    s = _SUP_RUN.sub(lambda m: "^{" + m.group().translate(_SUPERSCRIPTS) + "}", s)
    s = _UNICODE_RE.sub(lambda m: _UNICODE[m.group()], s)
    return unicodedata.normalize("NFKC", s)


# ---------------------------------------------------------------- tokenizer

_NUM = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_SCI = re.compile(r"[eE][-+]?[0-9]+(?![0-9A-Za-z])")
_THOUSANDS = re.compile(r",(?:\\!\s*)?[0-9]{3}(?![0-9])")
_SPACE_THOUSANDS = re.compile(r" [0-9]{3}(?![0-9]|\s*/)")
_DECIMAL_COMMA = re.compile(r"\s*[-+]?(?:0,[0-9]{3,}|[1-9][0-9]{3,},[0-9]{1,2})(?![0-9])")
_CURRENCY = frozenset("\u20ac\u00a3\u00a5\u20b9")  # euro, pound, yen, rupee: ignored like `\$` and "dollars"
_LATEX_THOUSANDS = re.compile(r"(?: ?\{ ?, ?\}|\\,|\\ |~)[0-9]{3}(?![0-9])")  # `14 {, }916` too
_LETTERS = re.compile(r"[A-Za-z]+")
_OVERLINE = re.compile(r"\\overline\s*\{([0-9]{1,50})\}")
_ENV = re.compile(r"\s*\{([A-Za-z*]+)\}")

GREEK = frozenset(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi rho sigma tau "
    "upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Sigma Phi Psi Omega".split()
)
FUNCS = frozenset("sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh ln log exp".split())
UNIT_WORDS = {
    "cm": "cm", "mm": "mm", "km": "km", "kg": "kg", "mg": "mg", "ml": "ml", "mL": "ml", "ft": "ft", "yd": "yd",
    "mph": "mph", "sec": "s", "secs": "s", "min": "min", "mins": "min", "hr": "h", "hrs": "h", "meter": "m",
    "meters": "m", "metres": "m", "centimeters": "cm", "inch": "in", "inches": "in", "feet": "ft", "foot": "ft",
    "mile": "mi", "miles": "mi", "hour": "h", "hours": "h", "minute": "min", "minutes": "min", "second": "s",
    "seconds": "s", "day": "day", "days": "day", "gram": "g", "grams": "g", "kilograms": "kg", "liter": "l",
    "liters": "l", "degree": "deg", "degrees": "deg", "deg": "deg", "percent": "%", "dollar": "", "dollars": "",
    "cent": "cent", "cents": "cent", "unit": "", "units": "", "sq": "sq", "square": "sq", "cubic": "cu", "pct": "%",
    "percentage": "%",
    "euro": "", "euros": "", "USD": "", "EUR": "",
}  # fmt: skip
_SKIP_CMDS = frozenset(
    "left right bigl bigr big Big bigg Bigg middle displaystyle textstyle limits nolimits quad qquad boxed fbox "
    "mathrm mathbf mathit mathsf mathbb boldsymbol operatorname underline textcolor".split()
)
# Layout commands whose (first) argument is no part of the answer: `\\color{red}5`, `\\hspace{1cm}`, `\\phantom{0}`
_DROP_ARG_CMDS = frozenset("color textcolor hspace vspace phantom hphantom vphantom".split())
_TEXT_CMDS = frozenset("text textbf textit textrm textnormal textup texttt mbox".split())
_OPS = {"cdot": "*", "times": "*", "ast": "*", "div": "/", "pm": "pm", "mp": "pm", "cup": "cup"}
_RELS = {"le": "<=", "leq": "<=", "leqslant": "<=", "ge": ">=", "geq": ">=", "geqslant": ">=", "lt": "<", "gt": ">",
         "ne": "!=", "neq": "!=", "approx": "~", "in": "in"}  # fmt: skip
_DELIMS = {"lbrace": ("open", "\\{"), "rbrace": ("close", "\\}"), "langle": ("open", "("), "rangle": ("close", ")"),
           "lvert": ("op", "|"), "rvert": ("op", "|"), "vert": ("op", "|"), "mid": ("op", "|"),
           "lfloor": ("open", "floor"), "rfloor": ("close", "floor"), "lceil": ("open", "ceil"),
           "rceil": ("close", "ceil")}  # fmt: skip
_MATRIX_ENVS = frozenset("pmatrix bmatrix Bmatrix matrix smallmatrix array".split())


def _matching_brace(s: str, i: int) -> int:
    """Index of the `}` closing the `{` at s[i] (escaped braces ignored), or -1."""
    depth = 0
    for j in range(i, len(s)):
        c = s[j]
        if c == "\\":
            continue
        if c == "{" and (j == 0 or s[j - 1] != "\\"):
            depth += 1
        elif c == "}" and (j == 0 or s[j - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return j
    return -1


def tokenize(s: str) -> list[Tok]:
    """Split normalised answer text into tokens; raises ParseError on anything outside the grammar."""
    toks: list[Tok] = []
    i, n, depth, space = 0, len(s), 0, False
    text_until = -1  # inside \text{...} up to this index: letter runs are words
    skip_close: set[int] = set()  # the closing braces of font / text wrappers, which are not groups

    def add(kind: str, text: str) -> None:
        nonlocal space
        toks.append(Tok(kind, text, space))
        space = False
        if len(toks) > MAX_TOKENS:
            raise ParseError("answer has too many tokens")

    while i < n:
        c = s[i]
        if c.isspace() or c == "$" or c in _CURRENCY:
            space, i = True, i + 1
        elif "0" <= c <= "9" or (c == "." and i + 1 < n and "0" <= s[i + 1] <= "9"):
            m = _NUM.match(s, i)
            text, i = m.group(), m.end()
            if "." not in text:
                if depth == 0 and len(text) <= 3 and text[0] != "0":
                    while (t := _THOUSANDS.match(s, i)) is not None:
                        text, i = text + t.group()[-3:], t.end()
                    if "," not in s[m.start() : i]:
                        while (t := _SPACE_THOUSANDS.match(s, i)) is not None:
                            text, i = text + t.group()[-3:], t.end()
                while (t := _LATEX_THOUSANDS.match(s, i)) is not None:
                    text, i = text + t.group()[-3:], t.end()
                if i > m.end() and (t := _NUM.match(s, i)) is not None and t.group()[0] == ".":
                    text, i = text + t.group(), t.end()  # the decimals after grouped thousands: `1\\,000.99`
                elif s.startswith("{,}", i) and i + 3 < n and "0" <= s[i + 3] <= "9":
                    m = _NUM.match(s, i + 3)
                    text, i = text + "." + m.group().replace(".", ""), m.end()
            if (m := _OVERLINE.match(s, i)) is not None and "e" not in text:
                text, i = (text if "." in text else text + ".") + "|" + m.group(1), m.end()
            elif (m := _SCI.match(s, i)) is not None:
                text, i = text + m.group().lower(), m.end()
            if len(text) > MAX_LITERAL_DIGITS:
                raise ParseError("number literal too long")
            add("num", text)
        elif c == "\\":
            m = _LETTERS.match(s, i + 1)
            if m is None:
                nxt = s[i + 1 : i + 2]
                i += 2
                if nxt in (",", "!", ";", ":", " ", "$", ""):
                    space = True
                elif nxt == "%":
                    add("unit", "%")
                elif nxt in "{}":
                    add("open" if nxt == "{" else "close", "\\" + nxt)
                    depth += 1 if nxt == "{" else -1
                elif nxt == "\\":
                    add("rowsep", "\\\\")
                elif nxt == "|":
                    add("op", "|")
                else:
                    raise ParseError(f"unsupported control symbol \\{nxt}")
                continue
            name, i = m.group(), m.end()
            if name == "mathbb" and s.startswith("{R}", i):
                add("const", "reals")  # \\mathbb{R}: the whole real line
                i += 3
            elif name in _DROP_ARG_CMDS and i < n and s[i] == "{" and (j := _matching_brace(s, i)) > 0:
                i, space = j + 1, True  # then `\\textcolor`'s second argument is an ordinary wrapper
                if name == "textcolor" and i < n and s[i] == "{" and (j := _matching_brace(s, i)) > 0:
                    skip_close.add(j)
                    i += 1
            elif name in _SKIP_CMDS or name in _TEXT_CMDS:
                if name in ("left", "right") and s.startswith(".", i):
                    i += 1
                space = True
                if name not in ("boxed", "fbox") and i < n and s[i] == "{" and (j := _matching_brace(s, i)) > 0:
                    skip_close.add(j)
                    if name in _TEXT_CMDS:
                        text_until = max(text_until, j)
                    i += 1
            elif name in _OPS:
                add("op", _OPS[name])
            elif name in _RELS:
                add("rel", _RELS[name])
            elif name in _DELIMS:
                add(*_DELIMS[name])
            elif name in GREEK:
                add("id", name)
            elif name in FUNCS:
                add("func", name)
            elif name in ("pi", "infty", "infinity"):
                add("const", "oo" if name != "pi" else "pi")
            elif name in ("emptyset", "varnothing"):
                add("const", "empty")
            elif name in ("circ", "degree"):
                add("unit", "deg")
            elif name in ("frac", "dfrac", "tfrac", "cfrac"):
                add("cmd", "frac")
            elif name in ("binom", "dbinom", "tbinom"):
                add("cmd", "binom")
            elif name == "sqrt":
                add("cmd", "sqrt")
            elif name in ("begin", "end"):
                m = _ENV.match(s, i)
                if m is None or m.group(1) not in _MATRIX_ENVS:
                    raise ParseError(f"unsupported environment after \\{name}")
                i = m.end()
                if name == "begin" and m.group(1) == "array" and (j := s.find("{", i)) >= 0 and not s[i:j].strip():
                    i = _matching_brace(s, j) + 1 or n  # skip the column spec {cc}
                add(name, m.group(1))
            else:
                raise ParseError(f"unsupported command \\{name}")
        elif ("a" <= c <= "z") or ("A" <= c <= "Z"):
            m = _LETTERS.match(s, i)
            word, i = m.group(), m.end()
            low = word.lower()
            if low in ("or", "and"):
                add("sep", low)
            elif i - len(word) < text_until:
                add("id" if len(word) == 1 and word.isupper() else "word", word)
            elif word in FUNCS or word == "sqrt":
                add("cmd" if word == "sqrt" else "func", word)
            elif low in ("pi", "inf", "infty", "infinity"):
                add("const", "pi" if low == "pi" else "oo")
            elif word in UNIT_WORDS or len(word) >= 4:
                add("word", word)
            else:
                for ch in word:
                    add("id", ch)
        elif c in "([":
            depth += 1
            add("open", c)
            i += 1
        elif c in ")]":
            depth -= 1
            add("close", c)
            i += 1
        elif c == "{":
            add("open", "{")
            i += 1
        elif c == "}":
            if i in skip_close:
                space = True
            else:
                add("close", "}")
            i += 1
        elif c == "*" and s.startswith("**", i):
            add("op", "^")
            i += 2
        elif c in "<>!" and s.startswith("=", i + 1):
            add("rel", c + "=")
            i += 2
        elif c in "+-*/^_|!":
            add("op", c)
            i += 1
        elif c in "=<>":
            add("rel", c)
            i += 1 + (c == "=" and s.startswith("=", i + 1))
        elif c in ",;":
            add("sep", c)
            i += 1
        elif c == ":":
            add("op", ":")
            i += 1
        elif c == "&":
            add("amp", c)
            i += 1
        elif c == "%":
            add("unit", "%")
            i += 1
        else:
            raise ParseError(f"unexpected character {c!r}")
    return toks


# ---------------------------------------------------------------- sympy builders with size guards


def _expr(v: Any) -> sympy.Expr:
    if not isinstance(v, sympy.Expr):
        raise ParseError("a tuple, set, interval or relation cannot take part in arithmetic")
    return v


def _bits(r: sympy.Rational) -> int:
    return max(int(r.p).bit_length(), int(r.q).bit_length())


class BigPower(sympy.Function):
    """`p^n` kept unevaluated: p >= 2 an integer that is no perfect power, n a positive integer too large to compute.

    `2^{2^{40}}` and `4^{2^{39}}` are both `BigPower(2, 2^40)`, so they compare equal structurally; sympy never
    multiplies such powers out (it would combine `2^{2^{40}} * 2` into `2^{2^{40}+1}` and compute it if it were a
    `Pow`). A `BigPower` has no numeric value for probing: it equals only the same power.
    """

    nargs = 2

    @classmethod
    def eval(cls, p: sympy.Integer, n: sympy.Integer) -> None:
        return None


def _big_power(base: sympy.Rational, exp: sympy.Rational) -> sympy.Expr:
    if not (base.is_Integer and exp.is_Integer and exp > 0) or abs(base) > 2**64 or int(exp).bit_length() > 4096:
        raise ParseError("power too large to evaluate")
    p, k = abs(int(base)), 1
    if (pp := sympy.perfect_power(p)) is not False:
        p, k = pp
    value = BigPower(sympy.Integer(p), sympy.Integer(k) * exp)
    return -value if base < 0 and exp % 2 == 1 else value


def _safe_symbolic_base(base: sympy.Expr) -> bool:
    """Can `base^n` stay unevaluated for a huge integer n? Not when sympy would raise a number to it: `(2x)^n`."""
    if not base.free_symbols:
        return False
    factors = base.args if base.is_Mul else (base,)
    return all(f.free_symbols or f in (1, -1) for f in factors)


def power(base: Any, exp: Any) -> sympy.Expr:
    """`base ** exp`, refusing exact results above MAX_POW_BITS bits (so `9^{9^{9^9}}` is never computed).

    Integer powers too large to compute become `BigPower` (compared structurally); a symbolic base keeps any integer
    exponent (`(x+1)^{100000}` is never expanded).
    """
    base, exp = _expr(base), _expr(exp)
    if exp.is_Number:
        if exp.is_Rational and base.is_Rational:
            if base == 0 and exp < 0:
                raise ParseError("division by zero")
            if base not in (0, 1, -1) and abs(exp) * _bits(base) > MAX_POW_BITS:
                return _big_power(base, exp)
            if not exp.is_Integer and _bits(base) > MAX_ROOT_BITS:
                raise ParseError("root of a number too large to evaluate")
        elif abs(exp) > MAX_SYMBOLIC_EXP and not (exp.is_Integer and _safe_symbolic_base(base)):
            raise ParseError("exponent too large")
    elif (
        base.is_Number
        and exp.is_Number is not True
        and any(a.is_Number and abs(a) > MAX_SYMBOLIC_EXP for a in exp.atoms())
    ):
        raise ParseError("exponent too large")
    return sympy.Pow(base, exp)


def multiply(a: Any, b: Any) -> Any:
    """`a * b` for expressions, a scalar times a matrix, or a matrix product."""
    if isinstance(a, Matrix) and isinstance(b, Matrix):
        if len(a.rows[0]) != len(b.rows) or len(a.rows) * len(b.rows[0]) > MAX_CELLS:
            raise ParseError("matrix shapes do not match for a product")
        cols = list(zip(*b.rows, strict=True))
        return Matrix(
            tuple(tuple(sympy.Add(*(x * y for x, y in zip(r, c, strict=True))) for c in cols) for r in a.rows)
        )
    if isinstance(a, Matrix) or isinstance(b, Matrix):
        m, k = (a, _expr(b)) if isinstance(a, Matrix) else (b, _expr(a))
        return Matrix(tuple(tuple(k * x for x in row) for row in m.rows))
    return _expr(a) * _expr(b)


def _matrix_add(a: Any, b: Any, op: str) -> Matrix:
    if not (isinstance(a, Matrix) and isinstance(b, Matrix)) or op == "pm":
        raise ParseError("a matrix can only be added to a matrix")
    if len(a.rows) != len(b.rows) or len(a.rows[0]) != len(b.rows[0]):
        raise ParseError("matrix shapes do not match for a sum")
    sign = 1 if op == "+" else -1
    return Matrix(
        tuple(tuple(x + sign * y for x, y in zip(r, q, strict=True)) for r, q in zip(a.rows, b.rows, strict=True))
    )


def floor_ceil(v: Any, which: str) -> sympy.Expr:
    """`floor(v)` / `ceiling(v)`; refused for a number too large to hold (`\\lfloor e^{9999} \\rfloor`)."""
    v = _expr(v)
    if not v.free_symbols:
        try:
            approx = complex(sympy.N(v, 15))
        except (TypeError, ValueError, ArithmeticError) as e:
            raise ParseError("floor of something we cannot evaluate") from e
        if not abs(approx) <= MAX_MAGNITUDE:
            raise ParseError("floor / ceiling of a number too large to evaluate")
    return sympy.floor(v) if which == "floor" else sympy.ceiling(v)


def divide(a: Any, b: Any) -> sympy.Expr:
    a, b = _expr(a), _expr(b)
    if b == 0:
        raise ParseError("division by zero")
    return sympy.Mul(a, power(b, sympy.Integer(-1)))


def root(x: Any, n: sympy.Expr) -> sympy.Expr:
    """n-th root; the real root for odd n and a negative number (`\\sqrt[3]{-8}` = -2)."""
    x = _expr(x)
    if n.is_Integer and n % 2 == 1 and x.is_Number and x.is_negative:
        return -power(-x, sympy.Rational(1, n))
    return power(x, divide(sympy.Integer(1), n))


def factorial(x: Any) -> sympy.Expr:
    x = _expr(x)
    if x.is_Number:
        if not x.is_Integer or x < 0 or x > MAX_FACTORIAL:
            raise ParseError("factorial argument must be an integer in [0, 1000]")
    return sympy.factorial(x)


def binomial(n: Any, k: Any) -> sympy.Expr:
    n, k = _expr(n), _expr(k)
    if n.is_Number and (not n.is_Integer or abs(n) > MAX_FACTORIAL):
        raise ParseError("binomial argument too large")
    return sympy.binomial(n, k)


_FUNCS = {
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "cot": sympy.cot, "sec": sympy.sec, "csc": sympy.csc,
    "arcsin": sympy.asin, "arccos": sympy.acos, "arctan": sympy.atan, "sinh": sympy.sinh, "cosh": sympy.cosh,
    "tanh": sympy.tanh, "ln": sympy.log, "log": sympy.log, "exp": sympy.exp,
}  # fmt: skip
_INVERSE = {"sin": "arcsin", "cos": "arccos", "tan": "arctan"}
_CONSTS = {"pi": sympy.pi, "oo": sympy.oo, "e": sympy.E, "i": sympy.I}


MAX_SCI_EXPONENT = 400  # `1e999999999`: 10 ** 999999999 is a C call of minutes that no deadline interrupts


def _written_unit(text: str) -> Fraction:
    """The value of one unit in the last written digit: `2.50` -> 1/100, `1.2e3` -> 100, `7.` -> 1."""
    mant, _, exp = text.partition("e")
    if abs(e := int(exp or 0)) > MAX_SCI_EXPONENT:
        raise ParseError("scientific exponent too large")
    return Fraction(10) ** (e - len(mant.partition(".")[2]))


def _number(text: str) -> sympy.Rational:
    if "|" in text:  # 0.1\overline{6}: the digits after "|" repeat forever
        head, rep = text.split("|")
        whole, _, frac = head.partition(".")
        shift = 10 ** len(frac)
        base = sympy.Rational(int((whole or "0") + frac), shift)
        return base + sympy.Rational(int(rep), (10 ** len(rep) - 1) * shift)
    mant, _, exp = text.partition("e")
    whole, _, frac = mant.partition(".")
    value = sympy.Rational(int((whole or "0") + frac), 10 ** len(frac))
    if exp:
        e = int(exp)
        if abs(e) > MAX_SCI_EXPONENT:
            raise ParseError("scientific exponent too large")
        value = value * sympy.Rational(10) ** e
    return value


# ---------------------------------------------------------------- parser

_ATOM_START = frozenset(["num", "id", "const", "func", "cmd", "open", "begin"])


class _Parser:
    """Recursive descent over tokens; depth-limited, so deep nesting raises ParseError instead of RecursionError."""

    def __init__(self, toks: list[Tok]) -> None:
        self.t = toks
        self.i = 0
        self.depth = 0
        self.abs_depth = 0
        self.has_decimal = False
        self.ulp: Fraction | None = None
        self.units: list[str] = []

    def peek(self, k: int = 0) -> Tok:
        j = self.i + k
        return self.t[j] if j < len(self.t) else Tok("eof", "")

    def next(self) -> Tok:
        tok = self.peek()
        self.i += 1
        return tok

    def accept(self, kind: str, *texts: str) -> Tok | None:
        tok = self.peek()
        if tok.kind == kind and (not texts or tok.text in texts):
            self.i += 1
            return tok
        return None

    def expect(self, kind: str, *texts: str) -> Tok:
        tok = self.accept(kind, *texts)
        if tok is None:
            got = self.peek()
            raise ParseError(f"expected {kind} {'/'.join(texts)}, got {got.kind} {got.text!r}")
        return tok

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError("nesting too deep")

    # answer := item ((',' | ';' | 'or' | 'and') item)*
    def parse_answer(self) -> Any:
        self.seps: list[str] = []
        items = self.parse_items(("eof", ""))
        self.expect("eof")
        only_or = bool(self.seps) and all(s == "or" for s in self.seps)
        return items[0] if len(items) == 1 else Seq("list", tuple(items), only_or)

    def parse_items(self, closer: tuple[str, str]) -> list[Any]:
        items = [self.parse_item()]
        while (sep := self.accept("sep")) is not None:
            if closer == ("eof", ""):
                self.seps.append(sep.text)
            if sep.text in ",;" and (word := self.accept("sep", "and", "or")) is not None:
                if closer == ("eof", ""):
                    self.seps[-1] = word.text  # `2, 3, and 5`: the comma and the word are one separator
            tok = self.peek()
            if (tok.kind, tok.text) == closer or tok.kind == "eof" or tok.kind == "close":
                break  # trailing separator
            items.append(self.parse_item())
        return items

    # item := ratio (rel ratio)*
    def parse_item(self) -> Any:
        parts, ops = [self.parse_ratio()], []
        while (tok := self.accept("rel")) is not None:
            ops.append(tok.text)
            parts.append(self.parse_ratio())
        return parts[0] if not ops else Rel(tuple(ops), tuple(parts))

    # ratio := union (':' union)*   (`7:32`, `V_1 : V_2`, `12:00`: compared part by part, never divided)
    def parse_ratio(self) -> Any:
        parts = [self.parse_union()]
        while self.accept("op", ":"):
            parts.append(self.parse_union())
        return parts[0] if len(parts) == 1 else Seq("ratio", tuple(parts))

    def parse_union(self) -> Any:
        parts = [self.parse_expr()]
        while self.accept("op", "cup"):
            parts.append(self.parse_expr())
        return parts[0] if len(parts) == 1 else Union(tuple(parts))

    # expr := term (('+' | '-' | '\pm') term)* unit*
    def parse_expr(self) -> Any:
        self.enter()
        saved, self.units = self.units, []
        v = self.parse_term()
        while (tok := self.accept("op", "+", "-", "pm")) is not None:
            r = self.parse_term()
            if isinstance(v, Matrix) or isinstance(r, Matrix):
                v = _matrix_add(v, r, tok.text)
                continue
            r = _expr(r)
            v = _expr(v) + (r if tok.text == "+" else -r if tok.text == "-" else PM * r)
        while True:  # trailing units: words, \%, ^\circ, with an optional ^2 after a word
            if self.peek().kind == "word" and isinstance(v, sympy.Expr) and v.free_symbols:
                raise ParseError(f"unexpected word {self.peek().text!r}")  # "no idea" is prose, not n*o in ideas
            if (tok := self.accept("word")) is not None:
                unit = UNIT_WORDS.get(tok.text, tok.text.lower())
                if self.accept("op", "^"):
                    unit += "^" + self.next().text
                self.units.append(unit)
            elif (tok := self.accept("unit")) is not None:
                self.units.append(tok.text)
            else:
                break
        units = " ".join(u for u in self.units if u)
        self.units = saved
        self.depth -= 1
        return Quantity(v, units) if units else v

    # term := unary (('*' | '/') unary | implicit-product power)*
    def parse_term(self) -> Any:
        v = self.parse_unary()
        while True:
            tok = self.peek()
            if tok.kind == "op" and tok.text in "*/":
                self.i += 1
                r = self.parse_unary()
                v = multiply(v, r) if tok.text == "*" else divide(v, r)
            elif tok.kind in _ATOM_START and tok.kind != "num" and not (tok.kind == "open" and tok.text == "{"):
                v = multiply(v, self.parse_power())
            elif tok.kind == "op" and tok.text == "|" and self.abs_depth == 0:
                v = multiply(v, self.parse_power())
            else:
                return v

    def parse_unary(self) -> Any:
        if (tok := self.accept("op", "-", "+", "pm")) is not None:
            self.enter()
            v = self.parse_unary()
            self.depth -= 1
            if isinstance(v, Matrix) and tok.text != "pm":
                return multiply(sympy.Integer(-1 if tok.text == "-" else 1), v)
            v = _expr(v)
            return -v if tok.text == "-" else PM * v if tok.text == "pm" else v
        return self.parse_power()

    def parse_power(self, mixed: bool = True) -> Any:
        v = self.parse_atom(mixed)
        while self.accept("op", "!"):
            v = factorial(v)
        if self.accept("op", "^"):
            braced = self.peek().text == "{" and self.peek(1).text == "deg" and self.peek(2).text == "}"
            if braced or self.peek().text == "deg":
                self.i += 3 if braced else 1
                self.units.append("deg")
            else:
                v = power(v, self.parse_exponent())
        return v

    def parse_exponent(self) -> Any:
        self.enter()
        if (tok := self.accept("op", "-", "+")) is not None:
            v = self.parse_exponent()
            v = -_expr(v) if tok.text == "-" else v
        else:
            v = self.parse_power(mixed=False)
        self.depth -= 1
        return v

    def parse_arg(self) -> Any:
        """A LaTeX macro argument: `{...}`, or one token (`\\frac12` = 1/2, the digits split)."""
        tok = self.peek()
        if tok.kind == "num" and tok.text.isdigit() and len(tok.text) > 1:
            self.t[self.i] = Tok("num", tok.text[1:])
            return sympy.Integer(int(tok.text[0]))
        return self.parse_power(mixed=False)

    def parse_atom(self, mixed: bool = True) -> Any:
        self.enter()
        try:
            return self._atom(mixed)
        finally:
            self.depth -= 1

    def _atom(self, mixed: bool) -> Any:
        tok = self.next()
        kind, text = tok.kind, tok.text
        if kind == "num":
            if not text.isdigit() and "|" not in text:
                self.has_decimal = True
                self.ulp = max(self.ulp or Fraction(0), _written_unit(text))
            v = _number(text)
            if mixed and text.isdigit():
                return v + self._mixed_fraction()
            return v
        if kind == "id":
            if self.accept("op", "_"):
                sub = self.next()
                if sub.kind == "open" and sub.text == "{":
                    inner = []
                    while (t := self.next()).kind not in ("close", "eof"):
                        inner.append(t.text)
                    name = f"{text}_{''.join(inner)}"
                elif sub.kind in ("num", "id"):
                    name = f"{text}_{sub.text}"
                else:
                    raise ParseError("bad subscript")
                return sympy.Symbol(name)
            return _CONSTS.get(text) if text in ("e", "i") else sympy.Symbol(text)
        if kind == "const":
            if text == "reals":
                return Interval(-sympy.oo, sympy.oo, False, False)
            return Seq("set", ()) if text == "empty" else _CONSTS[text]
        if kind == "func":
            return self._function(text)
        if kind == "cmd":
            if text == "frac":
                return divide(self.parse_arg(), self.parse_arg())
            if text == "binom":
                return binomial(self.parse_arg(), self.parse_arg())
            n = sympy.Integer(2)
            if self.accept("open", "["):
                n = _expr(self.parse_expr())
                self.expect("close", "]")
            return root(self.parse_arg(), n)
        if kind == "open":
            return self._bracket(text)
        if kind == "op" and text == "|":
            self.abs_depth += 1
            v = _expr(self.parse_expr())
            self.abs_depth -= 1
            self.expect("op", "|")
            return sympy.Abs(v)
        if kind == "begin":
            return self._matrix(text)
        raise ParseError(f"unexpected {kind} {text!r}")

    def _mixed_fraction(self) -> sympy.Expr:
        """After a whole number: `\\frac{1}{2}` or ` 1/2` (integers only) makes a mixed number, else 0."""
        t0, t1, t2 = self.peek(), self.peek(1), self.peek(2)
        if t0.kind == "cmd" and t0.text == "frac" and t1.kind == "num" and len(t1.text) == 2 and t1.text.isdigit():
            if int(t1.text[1]) == 0:
                raise ParseError("division by zero")
            self.i += 2  # `2\\frac14`: the two digits are numerator and denominator
            return sympy.Rational(int(t1.text[0]), int(t1.text[1]))
        if t0.kind == "cmd" and t0.text == "frac":
            j = self.i + 1
            parts = []
            for _ in range(2):
                if self.peek(j - self.i).kind == "open" and self.peek(j - self.i).text == "{":
                    a, b = self.peek(j - self.i + 1), self.peek(j - self.i + 2)
                    if a.kind != "num" or not a.text.isdigit() or (b.kind, b.text) != ("close", "}"):
                        return sympy.Integer(0)
                    parts.append(int(a.text))
                    j += 3
                else:
                    return sympy.Integer(0)
            self.i = j
            if parts[1] == 0:
                raise ParseError("division by zero")
            return sympy.Rational(parts[0], parts[1])
        if t0.kind == "num" and t0.space and t0.text.isdigit() and (t1.kind, t1.text) == ("op", "/"):
            after = self.peek(3).kind in ("eof", "sep", "close", "rel", "word", "unit")  # `4 4/9%`, `2 1/2 cm`
            if t2.kind == "num" and t2.text.isdigit() and after and int(t0.text) < int(t2.text):
                self.i += 3  # a proper fraction only: `11 7/6` is no mixed number (and does not parse)
                return sympy.Rational(int(t0.text), int(t2.text))
        return sympy.Integer(0)

    def _function(self, name: str) -> sympy.Expr:
        exp = None
        base = None
        if name == "log" and self.accept("op", "_"):
            base = _expr(self.parse_arg())
        if self.accept("op", "^"):
            exp = _expr(self.parse_exponent())
            if exp == -1 and name in _INVERSE:
                name, exp = _INVERSE[name], None
        if self.peek().kind == "open" and self.peek().text in "({":
            arg = _expr(self.parse_atom(mixed=False))
        else:  # \sin 2x = sin(2x): a product of atoms, stopping at the next function
            arg = _expr(self.parse_power(mixed=False))
            while self.peek().kind in ("num", "id", "const", "cmd") and not self.peek().space:
                arg = arg * _expr(self.parse_power(mixed=False))
        v = _FUNCS[name](arg)
        if base is not None:
            v = divide(v, sympy.log(base))
        return v if exp is None else power(v, exp)

    def _bracket(self, opener: str) -> Any:
        if opener in ("floor", "ceil"):
            v = _expr(self.parse_expr())
            self.expect("close", opener)
            return floor_ceil(v, opener)
        closer = {"(": ")", "[": "]", "{": "}", "\\{": "\\}"}[opener]
        if opener == "\\{" and self.accept("close", "\\}"):
            return Seq("set", ())
        items = self.parse_items(("close", closer))
        tok = self.next()
        if tok.kind != "close":
            raise ParseError(f"unclosed {opener}")
        if opener == "\\{":
            if tok.text != "\\}":
                raise ParseError("unclosed set")
            return Seq("set", tuple(items))
        if opener == "{":
            if tok.text != "}":
                raise ParseError("unbalanced braces")
            return items[0] if len(items) == 1 else Seq("list", tuple(items))
        if len(items) == 1:
            if tok.text != closer:
                raise ParseError("mismatched brackets")
            return items[0]
        if len(items) == 2 and tok.text in ")]" and (opener != "(" or tok.text != ")"):
            lo, hi = _expr(items[0]), _expr(items[1])
            return Interval(lo, hi, opener == "[", tok.text == "]")
        if tok.text != closer:
            raise ParseError("mismatched brackets")
        return Seq("paren" if len(items) == 2 and opener == "(" else "tuple", tuple(items))

    def _matrix(self, env: str) -> Matrix:
        rows, row = [], [_expr(self.parse_expr())]
        while True:
            if self.accept("amp"):
                row.append(_expr(self.parse_expr()))
            elif self.accept("rowsep"):
                rows.append(tuple(row))
                if self.accept("end", env):
                    break
                row = [_expr(self.parse_expr())]
            else:
                self.expect("end", env)
                rows.append(tuple(row))
                break
        if len({len(r) for r in rows}) != 1:
            raise ParseError("ragged matrix")
        return Matrix(tuple(rows))


def expand_pm(value: Any) -> Any:
    """`a \\pm b` -> the list (a + b, a - b); a value without \\pm is returned unchanged."""
    if isinstance(value, sympy.Expr) and value.has(PM):
        return Seq("list", (value.subs(PM, 1), value.subs(PM, -1)))
    if isinstance(value, Rel) and any(isinstance(p, sympy.Expr) and p.has(PM) for p in value.parts):
        subs = [tuple(p.subs(PM, s) if isinstance(p, sympy.Expr) else p for p in value.parts) for s in (1, -1)]
        return Seq("list", tuple(Rel(value.ops, parts) for parts in subs))
    if isinstance(value, Seq) and value.kind == "list":
        out = []
        for item in value.items:
            e = expand_pm(item)
            out.extend(e.items if isinstance(e, Seq) and e.kind == "list" and e is not item else [e])
        return Seq("list", tuple(out), value.only_or)
    return value


_UNITS_WORDS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
_UNITS_WORDS += "seventeen eighteen nineteen"
_NUMBER_WORDS = {w: k for k, w in enumerate(_UNITS_WORDS.split())}
_TENS_WORDS = {w: 10 * k for k, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
_NUMBER_WORD = re.compile(r"(?i)\s*(?:\\text\{\s*)?([a-z]+)(?:[- ]([a-z]+))?\s*\}?\s*")


def number_word(text: str) -> int | None:
    """`five`, `Twenty-one`, `\\text{ninety nine}` -> the integer; the whole answer must be the number in words."""
    m = _NUMBER_WORD.fullmatch(text)
    if m is None:
        return None
    a, b = m.group(1).lower(), (m.group(2) or "").lower()
    if not b:
        return _NUMBER_WORDS.get(a, _TENS_WORDS.get(a))
    return _TENS_WORDS[a] + _NUMBER_WORDS[b] if a in _TENS_WORDS and 1 <= _NUMBER_WORDS.get(b, 0) <= 9 else None


_DOUBLED_COMMAND = re.compile(r"(?<!\\)\\\\(?=[A-Za-z])")
_SINGLE_COMMAND = re.compile(r"(?<!\\)\\[A-Za-z]")


@functools.lru_cache(maxsize=4096)
def parse_answer(text: str) -> Parsed:
    """Parse one answer (already extracted from a response); raises ParseError. Cached: references repeat."""
    if len(text) > MAX_CHARS:
        raise ParseError(f"answer longer than {MAX_CHARS} characters")
    if len(text) < 40 and (n := number_word(text)) is not None:
        return Parsed(sympy.Integer(n), False)
    s = normalize_text(text)
    if _DOUBLED_COMMAND.search(s) and not _SINGLE_COMMAND.search(s):
        s = _DOUBLED_COMMAND.sub(r"\\", s)  # `\\frac{1}{2}`: text escaped twice (no single `\frac` anywhere)
    if (m := _DECIMAL_COMMA.match(s)) is not None and "," not in s[m.end() :]:
        s = s[: m.end()].replace(",", ".") + s[m.end() :]  # `0,111`, `1000,99`: a decimal comma (module docstring)
    p = _Parser(tokenize(s))
    value = expand_pm(p.parse_answer())
    if isinstance(value, Matrix) and sum(len(r) for r in value.rows) > MAX_CELLS:
        raise ParseError("matrix too large")
    return Parsed(value, p.has_decimal, p.ulp)
