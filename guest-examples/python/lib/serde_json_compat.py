"""JSON read and written exactly as the Rust guest examples do it.

The Rust examples use serde_json 1.0.154 with its default features (as locked in
guest-examples/rust/Cargo.lock). This module reproduces its behaviour so that a Python
component gives the same output as its Rust twin for the same input, byte for byte:

- the same documents are accepted and refused: UTF-8 checked inside strings, no lone
  surrogates, at most 127 nested arrays/objects (serde_json's recursion limit), numbers out of
  f64 range refused, nothing but whitespace after the value;
- numbers keep serde_json's kinds: integers within u64/i64 stay exact ``int``s, everything else
  is a ``float`` computed with serde_json's own algorithm (which is not always the correctly
  rounded one), ``-0`` is the float -0.0;
- objects are written with their keys in byte order (serde_json::Map is a BTreeMap), the last
  of duplicate keys wins, floats are written like serde_json does (``1.0``, ``1e+16``,
  ``1.5e-7``), strings with serde_json's escapes, no spaces;
- values of unknown struct fields are skipped the way serde_json skips them (syntax only).

Errors are ``JsonError``s whose message follows serde_json's wording and positions ("missing
field `uid` at line 1 column 11").

Only the standard library is used (``re``); the module is the Python twin of
guest-examples/js/lib/serde-json.js.
"""

import re

from rust_debug_escapes import debug_escaped

__all__ = ["JsonError", "JsonObject", "from_slice", "parse_value", "to_vec", "format_float"]


class JsonError(Exception):
    """A document serde_json would refuse; the message is serde_json's."""


class JsonObject(dict):
    """A JSON object (serde_json::Map): one value per key, the last one read wins."""


U64_MAX = (1 << 64) - 1
I32_MAX = 2**31 - 1
I32_MIN = -(2**31)

# serde_json's POW10 table: 1e0 ..= 1e308, correctly rounded like Rust float literals.
POW10 = [float("1e%d" % i) for i in range(309)]

MESSAGES = {
    "EofWhileParsingList": "EOF while parsing a list",
    "EofWhileParsingObject": "EOF while parsing an object",
    "EofWhileParsingString": "EOF while parsing a string",
    "EofWhileParsingValue": "EOF while parsing a value",
    "ExpectedColon": "expected `:`",
    "ExpectedListCommaOrEnd": "expected `,` or `]`",
    "ExpectedObjectCommaOrEnd": "expected `,` or `}`",
    "ExpectedSomeIdent": "expected ident",
    "ExpectedSomeValue": "expected value",
    "InvalidEscape": "invalid escape",
    "InvalidNumber": "invalid number",
    "NumberOutOfRange": "number out of range",
    "InvalidUnicodeCodePoint": "invalid unicode code point",
    "ControlCharacterWhileParsingString": "control character (\\u0000-\\u001F) found while parsing a string",
    "KeyMustBeAString": "key must be a string",
    "LoneLeadingSurrogateInHexEscape": "lone leading surrogate in hex escape",
    "TrailingComma": "trailing comma",
    "TrailingCharacters": "trailing characters",
    "UnexpectedEndOfHexEscape": "unexpected end of hex escape",
    "RecursionLimitExceeded": "recursion limit exceeded",
}

_PLAIN_RUN = re.compile(rb'[^"\\\x00-\x1f]*')
_WHITESPACE = re.compile(rb"[ \n\t\r]*")
_DIGITS = re.compile(rb"[0-9]*")
_ESCAPES = {
    0x22: b'"', 0x5C: b"\\", 0x2F: b"/", 0x62: b"\x08",
    0x66: b"\x0c", 0x6E: b"\n", 0x72: b"\r", 0x74: b"\t",
}
_HEX = b"0123456789abcdefABCDEF"
_EOF = -1


class _Unplaced(Exception):
    """An error without a position yet (serde's ``de::Error::custom``)."""


def _is_digit(c):
    return 0x30 <= c <= 0x39


def _rust_debug_str(s):
    """Rust's ``{:?}`` of a str (how serde_json quotes an unexpected string in an error)."""
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\0":
            out.append("\\0")
        elif debug_escaped(c):
            out.append("\\u{%x}" % c)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


class _Reader:
    """serde_json's ``Deserializer<SliceRead>``, on the raw bytes."""

    def __init__(self, data):
        self.b = bytes(data)
        self.n = len(self.b)
        self.i = 0
        self.remaining_depth = 128

    # --- positions and errors ------------------------------------------------------------

    def position_of(self, index):
        start_of_line = self.b.rfind(b"\n", 0, index) + 1
        line = 1 + self.b.count(b"\n", 0, start_of_line)
        return line, index - start_of_line

    def error_at(self, code, index):
        line, column = self.position_of(index)
        return JsonError("%s at line %d column %d" % (MESSAGES[code], line, column))

    def error(self, code):
        return self.error_at(code, self.i)

    def peek_error(self, code):
        return self.error_at(code, min(self.n, self.i + 1))

    def fix_position(self, e):
        if isinstance(e, _Unplaced):
            line, column = self.position_of(self.i)
            return JsonError("%s at line %d column %d" % (e.args[0], line, column))
        return e

    # --- bytes ---------------------------------------------------------------------------

    def peek(self):
        return self.b[self.i] if self.i < self.n else _EOF

    def next(self):
        if self.i < self.n:
            self.i += 1
            return self.b[self.i - 1]
        return _EOF

    def ws(self):
        self.i = _WHITESPACE.match(self.b, self.i).end()
        return self.peek()

    def ident(self, rest):
        for expected in rest:
            c = self.next()
            if c == _EOF:
                raise self.error("EofWhileParsingValue")
            if c != expected:
                raise self.error("ExpectedSomeIdent")

    def enter(self):
        self.remaining_depth -= 1
        if self.remaining_depth == 0:
            raise self.peek_error("RecursionLimitExceeded")

    def leave(self):
        self.remaining_depth += 1

    # --- numbers (serde_json's parse_integer & co, without `float_roundtrip`) ------------

    def any_number(self, positive):
        """After an optional ``-`` was eaten: the number, as int or float."""
        c = self.next()
        if c == _EOF:
            raise self.error("EofWhileParsingValue")
        if c == 0x30:
            if _is_digit(self.peek()):
                raise self.peek_error("InvalidNumber")
            return self.number_after_significand(positive, 0)
        if 0x31 <= c <= 0x39:
            significand = c - 0x30
            while True:
                d = self.peek()
                if not _is_digit(d):
                    return self.number_after_significand(positive, significand)
                if significand * 10 + (d - 0x30) > U64_MAX:
                    return self.long_integer(positive, significand)
                self.i += 1
                significand = significand * 10 + (d - 0x30)
        raise self.error("InvalidNumber")

    def number_after_significand(self, positive, significand):
        c = self.peek()
        if c == 0x2E:
            return self.decimal(positive, significand, 0)
        if c in (0x65, 0x45):
            return self.exponent(positive, significand, 0)
        if positive:
            return significand
        if significand == 0:
            return -0.0  # `-0` is a float
        if significand > 1 << 63:
            return -float(significand)
        return -significand

    def long_integer(self, positive, significand):
        end = _DIGITS.match(self.b, self.i).end()
        exponent = end - self.i
        self.i = end
        c = self.peek()
        if c == 0x2E:
            return self.decimal(positive, significand, exponent)
        if c in (0x65, 0x45):
            return self.exponent(positive, significand, exponent)
        return self.from_parts(positive, significand, exponent)

    def decimal(self, positive, significand, exponent_before):
        self.i += 1  # '.'
        exponent_after = 0
        while True:
            c = self.peek()
            if not _is_digit(c):
                break
            if significand * 10 + (c - 0x30) > U64_MAX:
                # Further digits are ignored.
                self.i = _DIGITS.match(self.b, self.i).end()
                exponent = exponent_before + exponent_after
                if self.peek() in (0x65, 0x45):
                    return self.exponent(positive, significand, exponent)
                return self.from_parts(positive, significand, exponent)
            self.i += 1
            significand = significand * 10 + (c - 0x30)
            exponent_after -= 1
        if exponent_after == 0:
            raise self.peek_error("EofWhileParsingValue" if self.peek() == _EOF else "InvalidNumber")
        exponent = exponent_before + exponent_after
        if self.peek() in (0x65, 0x45):
            return self.exponent(positive, significand, exponent)
        return self.from_parts(positive, significand, exponent)

    def exponent(self, positive, significand, starting_exp):
        self.i += 1  # 'e'
        positive_exp = True
        if self.peek() == 0x2B:
            self.i += 1
        elif self.peek() == 0x2D:
            self.i += 1
            positive_exp = False
        first = self.next()
        if first == _EOF:
            raise self.error("EofWhileParsingValue")
        if not _is_digit(first):
            raise self.error("InvalidNumber")
        exp = first - 0x30
        while True:
            c = self.peek()
            if not _is_digit(c):
                break
            self.i += 1
            if exp * 10 + (c - 0x30) > I32_MAX:
                # Exponent overflow: zero, or an error instead of infinity.
                if significand != 0 and positive_exp:
                    raise self.error("NumberOutOfRange")
                self.i = _DIGITS.match(self.b, self.i).end()
                return 0.0 if positive else -0.0
            exp = exp * 10 + (c - 0x30)
        final_exp = starting_exp + exp if positive_exp else starting_exp - exp
        final_exp = max(I32_MIN, min(I32_MAX, final_exp))  # saturating
        return self.from_parts(positive, significand, final_exp)

    def from_parts(self, positive, significand, exponent):
        f = float(significand)  # `as f64`: round to nearest, ties to even
        while True:
            index = abs(exponent)
            if index < len(POW10) and exponent != I32_MIN:
                if exponent >= 0:
                    f *= POW10[index]
                    if f == float("inf"):
                        raise self.error("NumberOutOfRange")
                else:
                    f /= POW10[index]
                break
            if f == 0.0:
                break
            if exponent >= 0:
                raise self.error("NumberOutOfRange")
            f /= 1e308
            exponent += 308
        return f if positive else -f

    # --- strings -------------------------------------------------------------------------

    def hex_escape(self):
        if self.i + 4 > self.n:
            self.i = self.n
            raise self.error("EofWhileParsingString")
        digits = self.b[self.i:self.i + 4]
        self.i += 4
        if any(d not in _HEX for d in digits):
            raise self.error("InvalidEscape")
        return int(digits, 16)

    def str(self):
        """After the opening quote: the string, validated (serde_json's parse_str)."""
        parts = []
        start = self.i
        while True:
            self.i = _PLAIN_RUN.match(self.b, self.i).end()
            c = self.peek()
            if c == _EOF:
                raise self.error("EofWhileParsingString")
            if c == 0x22:
                parts.append(self.b[start:self.i])
                self.i += 1
                joined = b"".join(parts)
                try:
                    return joined.decode("utf-8")
                except UnicodeDecodeError as e:
                    # serde_json points back at the first invalid byte (approximately).
                    line, column = self.position_of(self.i)
                    column = max(0, column - (len(joined) - e.start))
                    raise JsonError(
                        "%s at line %d column %d" % (MESSAGES["InvalidUnicodeCodePoint"], line, column)
                    ) from None
            if c == 0x5C:
                parts.append(self.b[start:self.i])
                self.i += 1
                parts.append(self.escape())
                start = self.i
                continue
            self.i += 1
            raise self.error("ControlCharacterWhileParsingString")

    def escape(self):
        """After a backslash: the UTF-8 bytes of the escaped character."""
        c = self.next()
        if c == _EOF:
            raise self.error("EofWhileParsingString")
        if c in _ESCAPES:
            return _ESCAPES[c]
        if c != 0x75:
            raise self.error("InvalidEscape")
        n = self.hex_escape()
        if 0xDC00 <= n <= 0xDFFF:
            raise self.error("LoneLeadingSurrogateInHexEscape")
        if n < 0xD800 or n > 0xDBFF:
            return chr(n).encode("utf-8")
        for expected in (0x5C, 0x75):
            if self.peek() == expected:
                self.i += 1
            else:
                if self.peek() == _EOF:
                    raise self.error("EofWhileParsingString")
                self.i += 1
                raise self.error("UnexpectedEndOfHexEscape")
        n2 = self.hex_escape()
        if n2 < 0xDC00 or n2 > 0xDFFF:
            raise self.error("LoneLeadingSurrogateInHexEscape")
        return chr(((n - 0xD800) << 10) + (n2 - 0xDC00) + 0x10000).encode("utf-8")

    # --- skipping (serde_json's ignore_value: syntax only) --------------------------------

    def ignore_str(self):
        while True:
            self.i = _PLAIN_RUN.match(self.b, self.i).end()
            c = self.peek()
            if c == _EOF:
                raise self.error("EofWhileParsingString")
            if c == 0x22:
                self.i += 1
                return
            if c == 0x5C:
                self.i += 1
                e = self.next()
                if e == _EOF:
                    raise self.error("EofWhileParsingString")
                if e == 0x75:
                    self.hex_escape()
                elif e not in _ESCAPES:
                    raise self.error("InvalidEscape")
                continue
            raise self.error("ControlCharacterWhileParsingString")

    def ignore_number(self):
        c = self.next()
        if c == 0x30:
            if _is_digit(self.peek()):
                raise self.peek_error("InvalidNumber")
        elif 0x31 <= c <= 0x39:
            self.i = _DIGITS.match(self.b, self.i).end()
        else:
            raise self.error("InvalidNumber")
        if self.peek() == 0x2E:
            self.i += 1
            end = _DIGITS.match(self.b, self.i).end()
            if end == self.i:
                raise self.peek_error("InvalidNumber")
            self.i = end
        if self.peek() in (0x65, 0x45):
            self.i += 1
            if self.peek() in (0x2B, 0x2D):
                self.i += 1
            if not _is_digit(self.next()):
                raise self.error("InvalidNumber")
            self.i = _DIGITS.match(self.b, self.i).end()

    def ignore_value(self):
        stack = []
        enclosing = None
        while True:
            peek = self.ws()
            if peek == _EOF:
                raise self.peek_error("EofWhileParsingValue")
            frame = None
            if peek == 0x6E:
                self.i += 1
                self.ident(b"ull")
            elif peek == 0x74:
                self.i += 1
                self.ident(b"rue")
            elif peek == 0x66:
                self.i += 1
                self.ident(b"alse")
            elif peek == 0x2D:
                self.i += 1
                self.ignore_number()
            elif _is_digit(peek):
                self.ignore_number()
            elif peek == 0x22:
                self.i += 1
                self.ignore_str()
            elif peek in (0x5B, 0x7B):
                if enclosing is not None:
                    stack.append(enclosing)
                enclosing = None
                self.i += 1
                frame = peek
            else:
                raise self.peek_error("ExpectedSomeValue")
            if frame is not None:
                accept_comma = False
            elif enclosing is not None:
                frame, enclosing, accept_comma = enclosing, None, True
            elif stack:
                frame, accept_comma = stack.pop(), True
            else:
                return
            while True:
                c = self.ws()
                if c == 0x2C and accept_comma:
                    self.i += 1
                    break
                elif (c == 0x5D and frame == 0x5B) or (c == 0x7D and frame == 0x7B):
                    pass  # closes the frame
                elif c != _EOF:
                    if accept_comma:
                        raise self.peek_error(
                            "ExpectedListCommaOrEnd" if frame == 0x5B else "ExpectedObjectCommaOrEnd"
                        )
                    break
                else:
                    raise self.peek_error("EofWhileParsingList" if frame == 0x5B else "EofWhileParsingObject")
                self.i += 1
                if not stack:
                    return
                frame, accept_comma = stack.pop(), True
            if frame == 0x7B:
                c = self.ws()
                if c == 0x22:
                    self.i += 1
                elif c == _EOF:
                    raise self.peek_error("EofWhileParsingObject")
                else:
                    raise self.peek_error("KeyMustBeAString")
                self.ignore_str()
                colon = self.ws()
                if colon == 0x3A:
                    self.i += 1
                elif colon == _EOF:
                    raise self.peek_error("EofWhileParsingObject")
                else:
                    raise self.peek_error("ExpectedColon")
            enclosing = frame

    # --- sequences and maps (serde_json's SeqAccess / MapAccess) --------------------------

    def has_next_element(self, state):
        c = self.ws()
        if c == _EOF:
            raise self.peek_error("EofWhileParsingList")
        if c == 0x5D:
            return False
        if state[0]:
            state[0] = False
            return True
        if c != 0x2C:
            raise self.peek_error("ExpectedListCommaOrEnd")
        self.i += 1
        d = self.ws()
        if d == 0x5D:
            raise self.peek_error("TrailingComma")
        if d == _EOF:
            raise self.peek_error("EofWhileParsingValue")
        return True

    def has_next_key(self, state):
        c = self.ws()
        if c == _EOF:
            raise self.peek_error("EofWhileParsingObject")
        if c == 0x7D:
            return False
        if state[0]:
            state[0] = False
            if c == 0x22:
                return True
            raise self.peek_error("KeyMustBeAString")
        if c != 0x2C:
            raise self.peek_error("ExpectedObjectCommaOrEnd")
        self.i += 1
        d = self.ws()
        if d == 0x22:
            return True
        if d == 0x7D:
            raise self.peek_error("TrailingComma")
        if d == _EOF:
            raise self.peek_error("EofWhileParsingValue")
        raise self.peek_error("KeyMustBeAString")

    def key(self):
        self.ws()
        self.i += 1
        return self.str()

    def colon(self):
        c = self.ws()
        if c == 0x3A:
            self.i += 1
            return
        raise self.peek_error("EofWhileParsingObject" if c == _EOF else "ExpectedColon")

    def end_seq(self):
        c = self.ws()
        if c == 0x5D:
            self.i += 1
            return None
        if c == 0x2C:
            self.i += 1
            return self.peek_error("TrailingComma" if self.ws() == 0x5D else "TrailingCharacters")
        return self.peek_error("EofWhileParsingList" if c == _EOF else "TrailingCharacters")

    def end_map(self):
        c = self.ws()
        if c == 0x7D:
            self.i += 1
            return None
        if c == 0x2C:
            return self.peek_error("TrailingComma")
        return self.peek_error("EofWhileParsingObject" if c == _EOF else "TrailingCharacters")

    def compound(self, open_byte, visit):
        """``[`` or ``{`` with the recursion check, then ``visit``, then the closing bracket."""
        self.enter()
        self.i += 1
        failure = None
        result = None
        try:
            result = visit()
        except (JsonError, _Unplaced) as e:
            failure = e
        self.leave()
        end_error = self.end_seq() if open_byte == 0x5B else self.end_map()
        if failure is not None:
            raise failure
        if end_error is not None:
            raise end_error
        return result

    def invalid_type(self, expected):
        """serde_json's peek_invalid_type: consumes a scalar, describes what was found."""
        c = self.peek()
        if c == 0x6E:
            self.i += 1
            self.ident(b"ull")
            unexpected = "null"
        elif c == 0x74:
            self.i += 1
            self.ident(b"rue")
            unexpected = "boolean `true`"
        elif c == 0x66:
            self.i += 1
            self.ident(b"alse")
            unexpected = "boolean `false`"
        elif c == 0x22:
            self.i += 1
            unexpected = "string " + _rust_debug_str(self.str())
        elif c == 0x5B:
            unexpected = "sequence"
        elif c == 0x7B:
            unexpected = "map"
        elif c == 0x2D or _is_digit(c):
            positive = c != 0x2D
            if not positive:
                self.i += 1
            n = self.any_number(positive)
            if isinstance(n, int):
                unexpected = "integer `%d`" % n
            else:
                unexpected = "floating point `%s`" % format_float(n)
        else:
            return self.peek_error("ExpectedSomeValue")
        return _Unplaced("invalid type: %s, expected %s" % (unexpected, expected))

    def placed(self, body):
        """Runs ``body``, giving an unplaced error the current position (fix_position)."""
        try:
            return body()
        except _Unplaced as e:
            raise self.fix_position(e) from None

    # --- typed reads ---------------------------------------------------------------------

    def string(self):
        """A ``String``."""
        c = self.ws()
        if c == _EOF:
            raise self.peek_error("EofWhileParsingValue")

        def body():
            if c == 0x22:
                self.i += 1
                return self.str()
            raise self.invalid_type("a string")

        return self.placed(body)

    def value(self):
        """A ``serde_json::Value``."""
        c = self.ws()
        if c == _EOF:
            raise self.peek_error("EofWhileParsingValue")
        if c == 0x6E:
            self.i += 1
            self.ident(b"ull")
            return None
        if c == 0x74:
            self.i += 1
            self.ident(b"rue")
            return True
        if c == 0x66:
            self.i += 1
            self.ident(b"alse")
            return False
        if c == 0x2D:
            self.i += 1
            return self.any_number(False)
        if _is_digit(c):
            return self.any_number(True)
        if c == 0x22:
            self.i += 1
            return self.str()
        if c == 0x5B:
            def items():
                out = []
                state = [True]
                while self.has_next_element(state):
                    out.append(self.value())
                return out

            return self.compound(0x5B, items)
        if c == 0x7B:
            return self.compound(0x7B, self.map_entries)
        raise self.peek_error("ExpectedSomeValue")

    def map_entries(self):
        out = JsonObject()
        state = [True]
        while self.has_next_key(state):
            k = self.key()
            self.colon()
            out[k] = self.value()
        return out

    def map(self):
        """A ``serde_json::Map<String, Value>`` (an object, nothing else)."""
        c = self.ws()
        if c == _EOF:
            raise self.peek_error("EofWhileParsingValue")

        def body():
            if c == 0x7B:
                return self.compound(0x7B, self.map_entries)
            raise self.invalid_type("a map")

        return self.placed(body)

    def struct(self, name, fields):
        """A ``#[derive(Deserialize)]`` struct.

        ``fields`` is ``[(name, read), ...]`` in declaration order, ``read()`` reads the
        field's value. Accepts an object (unknown keys skipped, duplicates refused) or an
        array of exactly the fields in order, like serde_json.
        """
        c = self.ws()
        if c == _EOF:
            raise self.peek_error("EofWhileParsingValue")
        expecting = "struct " + name

        def from_seq():
            out = {}
            state = [True]
            for index, (field, read) in enumerate(fields):
                if not self.has_next_element(state):
                    n = len(fields)
                    raise _Unplaced(
                        "invalid length %d, expected %s with %d element%s"
                        % (index, expecting, n, "" if n == 1 else "s")
                    )
                out[field] = read()
            return out

        def from_map():
            out = {}
            readers = dict(fields)
            state = [True]
            while self.has_next_key(state):
                k = self.key()
                if k not in readers:
                    self.colon()
                    self.ignore_value()
                    continue
                if k in out:
                    raise _Unplaced("duplicate field `%s`" % k)
                self.colon()
                out[k] = readers[k]()
            for field, _ in fields:
                if field not in out:
                    raise _Unplaced("missing field `%s`" % field)
            return out

        def body():
            if c == 0x5B:
                return self.compound(0x5B, from_seq)
            if c == 0x7B:
                return self.compound(0x7B, from_map)
            raise self.invalid_type(expecting)

        return self.placed(body)

    def end(self):
        """After the value: only whitespace may follow (serde_json's ``Deserializer::end``)."""
        if self.ws() != _EOF:
            raise self.peek_error("TrailingCharacters")


def from_slice(data, read):
    """Reads ``data`` (bytes) the way ``serde_json::from_slice::<T>`` does.

    ``read`` gets the reader and reads one T (with ``r.value()``, ``r.map()``,
    ``r.string()``, ``r.struct(...)``).
    """
    r = _Reader(data)
    value = read(r)
    r.end()
    return value


def parse_value(data):
    """``serde_json::from_slice::<Value>``."""
    return from_slice(data, lambda r: r.value())


# --- writing (serde_json::to_vec) ---------------------------------------------------------


def format_float(x):
    """An f64 as serde_json writes it (shortest round-trip digits, serde_json's layout)."""
    if x == 0.0:
        return "-0.0" if str(x).startswith("-") else "0.0"
    sign = "-" if x < 0 else ""
    # '%r' gives the shortest round-trip digits; normalise them to digits and an exponent.
    mantissa, _, exp = ("%r" % abs(x)).partition("e")
    integer, _, fraction = mantissa.partition(".")
    digits = (integer + fraction).lstrip("0")
    e = (int(exp) if exp else 0) + len(integer) - 1 - (len(integer + fraction) - len(digits))
    digits = digits.rstrip("0") or "0"
    n = len(digits)
    if -5 <= e <= 15:
        if n - 1 <= e:
            body = digits + "0" * (e + 1 - n) + ".0"
        elif e >= 0:
            body = digits[: e + 1] + "." + digits[e + 1:]
        else:
            body = "0." + "0" * (-e - 1) + digits
    else:
        frac = "." + digits[1:] if n > 1 else ""
        body = "%s%se%s%d" % (digits[0], frac, "-" if e < 0 else "+", abs(e))
    return sign + body


_ESCAPE_OUT = re.compile(r'["\\\x00-\x1f]')
_ESCAPE_NAMED = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _quote(s):
    return '"' + _ESCAPE_OUT.sub(lambda m: _ESCAPE_NAMED.get(m.group(0), "\\u%04x" % ord(m.group(0))), s) + '"'


def _to_json(v, out):
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, str):
        out.append(_quote(v))
    elif isinstance(v, int):
        out.append(str(v))
    elif isinstance(v, float):
        out.append(format_float(v))
    elif isinstance(v, list):
        out.append("[")
        for k, item in enumerate(v):
            if k:
                out.append(",")
            _to_json(item, out)
        out.append("]")
    elif isinstance(v, dict):
        out.append("{")
        # str order is code point order, which is UTF-8 byte order, as Rust sorts Strings.
        for k, key in enumerate(sorted(v)):
            if k:
                out.append(",")
            out.append(_quote(key))
            out.append(":")
            _to_json(v[key], out)
        out.append("}")
    else:
        raise JsonError("not a JSON value: %r" % type(v))


def to_vec(v):
    """``serde_json::to_vec``: the compact JSON of ``v`` as UTF-8 bytes."""
    out = []
    _to_json(v, out)
    return "".join(out).encode("utf-8")
