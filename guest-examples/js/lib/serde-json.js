// JSON read and written exactly as the Rust guest examples do it (serde_json 1.0.154, default
// features, as locked in guest-examples/rust/Cargo.lock), so that a JavaScript component
// gives the same output as its Rust twin for the same input, byte for byte:
//
// - the same documents are accepted and refused: UTF-8 checked inside strings, no lone
//   surrogates, at most 127 nested arrays/objects (serde_json's recursion limit), numbers out
//   of f64 range refused, nothing but whitespace after the value;
// - numbers keep serde_json's kinds: integers within u64/i64 stay exact integers (BigInt
//   here), everything else is an f64 computed with serde_json's own algorithm (which is not
//   always the correctly rounded one), `-0` is the float -0.0;
// - objects are written with their keys in byte order (serde_json::Map is a BTreeMap), the
//   last of duplicate keys wins, floats are written like serde_json does (`1.0`, `1e+16`,
//   `1.5e-7`), strings with serde_json's escapes, no spaces;
// - values of unknown struct fields are skipped the way serde_json skips them (syntax only).
//
// Errors are `JsonError`s with serde_json's message, position included ("missing field `uid`
// at line 1 column 11"). The module is the JavaScript twin of
// guest-examples/python/lib/serde_json_compat.py; both follow serde_json's code path by path
// (`Deserializer<SliceRead>`: parse_integer, parse_str, ignore_value, SeqAccess, MapAccess).

import { debugEscaped } from './rust-debug-escapes.js';

export class JsonError extends Error {}

/** An integer that fits u64 (>= 0) or i64 (< 0): serde_json's PosInt / NegInt. */
export class JsonInt {
  constructor(value) {
    this.value = value; // a Number when a safe integer, else a BigInt
  }
}

/** A finite f64: serde_json's Float. */
export class JsonFloat {
  constructor(value) {
    this.value = value; // Number
  }
}

/** A JSON object as serde_json::Map: one value per key (the last one read wins). */
export class JsonObject {
  constructor() {
    this.entries = new Map();
  }
  get(key) {
    return this.entries.get(key);
  }
  set(key, value) {
    this.entries.set(key, value);
  }
}

const U64_MAX = (1n << 64n) - 1n;
const U64_MAX_DIV_10 = U64_MAX / 10n;
const U64_MAX_MOD_10 = U64_MAX % 10n;
const I32_MAX = 2147483647;
const I32_MIN = -2147483648;

// serde_json's POW10 table: 1e0 ..= 1e308, correctly rounded like Rust float literals.
const POW10 = Array.from({ length: 309 }, (_, i) => Number(`1e${i}`));

const MESSAGES = {
  EofWhileParsingList: 'EOF while parsing a list',
  EofWhileParsingObject: 'EOF while parsing an object',
  EofWhileParsingString: 'EOF while parsing a string',
  EofWhileParsingValue: 'EOF while parsing a value',
  ExpectedColon: 'expected `:`',
  ExpectedListCommaOrEnd: 'expected `,` or `]`',
  ExpectedObjectCommaOrEnd: 'expected `,` or `}`',
  ExpectedSomeIdent: 'expected ident',
  ExpectedSomeValue: 'expected value',
  InvalidEscape: 'invalid escape',
  InvalidNumber: 'invalid number',
  NumberOutOfRange: 'number out of range',
  InvalidUnicodeCodePoint: 'invalid unicode code point',
  ControlCharacterWhileParsingString:
    'control character (\\u0000-\\u001F) found while parsing a string',
  KeyMustBeAString: 'key must be a string',
  LoneLeadingSurrogateInHexEscape: 'lone leading surrogate in hex escape',
  TrailingComma: 'trailing comma',
  TrailingCharacters: 'trailing characters',
  UnexpectedEndOfHexEscape: 'unexpected end of hex escape',
  RecursionLimitExceeded: 'recursion limit exceeded',
};

/** An error without a position yet (serde's `de::Error::custom`), placed by `fixPosition`. */
class Unplaced {
  constructor(message) {
    this.message = message;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8(bytes) {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

/** The length of the longest valid UTF-8 prefix of `b` (Rust's `Utf8Error::valid_up_to`). */
function validUpTo(b) {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    let n;
    let lo = 0x80;
    let hi = 0xbf;
    if (c < 0x80) n = 0;
    else if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n + 1;
  }
  return i;
}

function isDigit(c) {
  return c >= 0x30 && c <= 0x39;
}

function hexValue(c) {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

// `significand * 10 + digit` would exceed u64::MAX.
function overflowU64(significand, digit) {
  return (
    significand >= U64_MAX_DIV_10 &&
    (significand > U64_MAX_DIV_10 || BigInt(digit) > U64_MAX_MOD_10)
  );
}

/** Rust's `{:?}` of a str (how serde_json quotes an unexpected string in an error). */
function rustDebugStr(s) {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\0') out += '\\0';
    else if (debugEscaped(c)) out += `\\u{${c.toString(16)}}`;
    else out += ch;
  }
  return out + '"';
}

// Sticky patterns run on `Reader.latin1`, where character k is byte k: native scanning
// instead of a loop per byte in the (interpreted) guest.
const WHITESPACE = /[ \n\t\r]*/y;
const PLAIN = /[^"\\\x00-\x1f]*/y;
const DIGITS = /[0-9]*/y;

/** The bytes as a string of as many characters, each the byte's value. */
function latin1(bytes) {
  const chunks = [];
  for (let k = 0; k < bytes.length; k += 8192) {
    chunks.push(String.fromCharCode.apply(null, bytes.subarray(k, k + 8192)));
  }
  return chunks.join('');
}

/** The reader: serde_json's `Deserializer<SliceRead>`, on the raw bytes. */
class Reader {
  constructor(bytes) {
    this.b = bytes;
    this.latin1 = latin1(bytes);
    this.i = 0;
    this.remainingDepth = 128;
  }

  /** Moves past what the sticky `pattern` matches at the current position. */
  skip(pattern) {
    pattern.lastIndex = this.i;
    pattern.test(this.latin1);
    this.i = pattern.lastIndex;
  }

  // --- positions and errors ----------------------------------------------------------------

  positionOf(index) {
    let line = 1;
    let startOfLine = 0;
    for (let k = 0; k < index; k++) {
      if (this.b[k] === 0x0a) {
        line += 1;
        startOfLine = k + 1;
      }
    }
    return { line, column: index - startOfLine };
  }

  errorAt(code, index) {
    const { line, column } = this.positionOf(index);
    return new JsonError(`${MESSAGES[code]} at line ${line} column ${column}`);
  }

  error(code) {
    return this.errorAt(code, this.i);
  }

  peekError(code) {
    return this.errorAt(code, Math.min(this.b.length, this.i + 1));
  }

  fixPosition(e) {
    if (e instanceof Unplaced) {
      const { line, column } = this.positionOf(this.i);
      return new JsonError(`${e.message} at line ${line} column ${column}`);
    }
    return e;
  }

  // --- bytes ------------------------------------------------------------------------------

  peek() {
    return this.i < this.b.length ? this.b[this.i] : -1;
  }

  next() {
    return this.i < this.b.length ? this.b[this.i++] : -1;
  }

  ws() {
    this.skip(WHITESPACE);
    return this.peek();
  }

  /** Skips string content up to a quote, a backslash, a control character or the end. */
  skipPlain() {
    this.skip(PLAIN);
  }

  ident(rest) {
    for (let k = 0; k < rest.length; k++) {
      const c = this.next();
      if (c === -1) throw this.error('EofWhileParsingValue');
      if (c !== rest.charCodeAt(k)) throw this.error('ExpectedSomeIdent');
    }
  }

  enter() {
    this.remainingDepth -= 1;
    if (this.remainingDepth === 0) throw this.peekError('RecursionLimitExceeded');
  }

  leave() {
    this.remainingDepth += 1;
  }

  // --- numbers (serde_json's parse_integer & co, without `float_roundtrip`) ----------------

  /** After an optional `-` was eaten: the number, as JsonInt or JsonFloat. */
  anyNumber(positive) {
    const c = this.next();
    if (c === -1) throw this.error('EofWhileParsingValue');
    if (c === 0x30) {
      if (isDigit(this.peek())) throw this.peekError('InvalidNumber');
      return this.numberAfterSignificand(positive, 0n);
    }
    if (c >= 0x31 && c <= 0x39) {
      // Up to 15 digits: a Number (exact). Longer: a BigInt, digit by digit, with serde's
      // u64 overflow rule.
      const start = this.i - 1;
      this.skip(DIGITS);
      if (this.i - start <= 15) {
        return this.numberAfterSignificand(positive, Number(this.latin1.slice(start, this.i)));
      }
      this.i = start + 15;
      let significand = BigInt(this.latin1.slice(start, this.i));
      for (;;) {
        const d = this.peek();
        if (!isDigit(d)) return this.numberAfterSignificand(positive, significand);
        const digit = d - 0x30;
        if (overflowU64(significand, digit)) {
          return new JsonFloat(this.longInteger(positive, significand));
        }
        this.i++;
        significand = significand * 10n + BigInt(digit);
      }
    }
    throw this.error('InvalidNumber');
  }

  /** `significand`: a Number (at most 15 digits, exact) or a BigInt. */
  numberAfterSignificand(positive, significand) {
    const c = this.peek();
    if (c === 0x2e) return new JsonFloat(this.decimal(positive, significand, 0));
    if (c === 0x65 || c === 0x45) return new JsonFloat(this.exponent(positive, significand, 0));
    if (positive) return new JsonInt(significand);
    if (significand == 0) return new JsonFloat(-0); // `-0` is a float
    if (significand > 1n << 63n) return new JsonFloat(-Number(significand));
    return new JsonInt(-significand);
  }

  longInteger(positive, significand) {
    let exponent = 0;
    for (;;) {
      const c = this.peek();
      if (isDigit(c)) {
        this.i++;
        exponent += 1;
      } else if (c === 0x2e) {
        return this.decimal(positive, significand, exponent);
      } else if (c === 0x65 || c === 0x45) {
        return this.exponent(positive, significand, exponent);
      } else {
        return this.fromParts(positive, significand, exponent);
      }
    }
  }

  decimal(positive, significand, exponentBefore) {
    this.i++; // '.'
    let exponentAfter = 0;
    if (typeof significand === 'number') {
      // While the significand stays below 1e15, a Number is exact.
      const start = this.i;
      this.skip(DIGITS);
      const room = 15 - String(significand).length + (significand === 0 ? 1 : 0);
      const take = Math.min(this.i - start, Math.max(room, 0));
      if (take > 0) {
        significand = Number(String(significand) + this.latin1.slice(start, start + take));
        exponentAfter -= take;
      }
      this.i = start + take;
      if (isDigit(this.peek())) significand = BigInt(significand);
    }
    for (;;) {
      const c = this.peek();
      if (!isDigit(c)) break;
      const digit = c - 0x30;
      if (overflowU64(significand, digit)) {
        // Further digits are ignored.
        while (isDigit(this.peek())) this.i++;
        const e = this.peek();
        const exponent = exponentBefore + exponentAfter;
        if (e === 0x65 || e === 0x45) return this.exponent(positive, significand, exponent);
        return this.fromParts(positive, significand, exponent);
      }
      this.i++;
      significand = significand * 10n + BigInt(digit);
      exponentAfter -= 1;
    }
    if (exponentAfter === 0) {
      throw this.peekError(this.peek() === -1 ? 'EofWhileParsingValue' : 'InvalidNumber');
    }
    const exponent = exponentBefore + exponentAfter;
    const e = this.peek();
    if (e === 0x65 || e === 0x45) return this.exponent(positive, significand, exponent);
    return this.fromParts(positive, significand, exponent);
  }

  exponent(positive, significand, startingExp) {
    this.i++; // 'e'
    let positiveExp = true;
    if (this.peek() === 0x2b) {
      this.i++;
    } else if (this.peek() === 0x2d) {
      this.i++;
      positiveExp = false;
    }
    const first = this.next();
    if (first === -1) throw this.error('EofWhileParsingValue');
    if (!isDigit(first)) throw this.error('InvalidNumber');
    let exp = first - 0x30;
    for (;;) {
      const c = this.peek();
      if (!isDigit(c)) break;
      this.i++;
      const digit = c - 0x30;
      if (exp >= Math.floor(I32_MAX / 10) && (exp > Math.floor(I32_MAX / 10) || digit > I32_MAX % 10)) {
        // Exponent overflow: zero, or an error instead of infinity.
        if (significand != 0 && positiveExp) throw this.error('NumberOutOfRange');
        while (isDigit(this.peek())) this.i++;
        return positive ? 0 : -0;
      }
      exp = exp * 10 + digit;
    }
    let finalExp = positiveExp ? startingExp + exp : startingExp - exp;
    finalExp = Math.max(I32_MIN, Math.min(I32_MAX, finalExp)); // saturating
    return this.fromParts(positive, significand, finalExp);
  }

  fromParts(positive, significand, exponent) {
    let f = Number(significand); // `as f64`: round to nearest, ties to even
    for (;;) {
      const index = Math.abs(exponent);
      if (index < POW10.length && exponent !== I32_MIN) {
        if (exponent >= 0) {
          f *= POW10[index];
          if (!Number.isFinite(f)) throw this.error('NumberOutOfRange');
        } else {
          f /= POW10[index];
        }
        break;
      }
      if (f === 0) break;
      if (exponent >= 0) throw this.error('NumberOutOfRange');
      f /= 1e308;
      exponent += 308;
    }
    return positive ? f : -f;
  }

  // --- strings ------------------------------------------------------------------------------

  hexEscape() {
    if (this.i + 4 > this.b.length) {
      this.i = this.b.length;
      throw this.error('EofWhileParsingString');
    }
    let n = 0;
    let bad = false;
    for (let k = 0; k < 4; k++) {
      const v = hexValue(this.b[this.i + k]);
      if (v < 0) bad = true;
      n = n * 16 + Math.max(v, 0);
    }
    this.i += 4;
    if (bad) throw this.error('InvalidEscape');
    return n;
  }

  /** After the opening quote: the string, validated (serde_json's parse_str). */
  str() {
    const parts = [];
    let start = this.i;
    let escaped = false;
    for (;;) {
      this.skipPlain();
      const c = this.peek();
      if (c === -1) throw this.error('EofWhileParsingString');
      if (c === 0x22) {
        parts.push(this.b.subarray(start, this.i));
        this.i++;
        const joined = escaped ? concat(parts) : parts[0];
        const s = decodeUtf8(joined);
        if (s === null) {
          // serde_json points back at the first invalid byte (approximately, after escapes).
          const { line, column } = this.positionOf(this.i);
          const back = joined.length - validUpTo(joined);
          const message = MESSAGES.InvalidUnicodeCodePoint;
          throw new JsonError(`${message} at line ${line} column ${Math.max(0, column - back)}`);
        }
        return s;
      }
      if (c === 0x5c) {
        escaped = true;
        parts.push(this.b.subarray(start, this.i));
        this.i++;
        parts.push(this.escape());
        start = this.i;
        continue;
      }
      this.i++;
      throw this.error('ControlCharacterWhileParsingString');
    }
  }

  /** After a backslash: the UTF-8 bytes of the escaped character. */
  escape() {
    const c = this.next();
    if (c === -1) throw this.error('EofWhileParsingString');
    switch (c) {
      case 0x22: return Uint8Array.of(0x22);
      case 0x5c: return Uint8Array.of(0x5c);
      case 0x2f: return Uint8Array.of(0x2f);
      case 0x62: return Uint8Array.of(0x08);
      case 0x66: return Uint8Array.of(0x0c);
      case 0x6e: return Uint8Array.of(0x0a);
      case 0x72: return Uint8Array.of(0x0d);
      case 0x74: return Uint8Array.of(0x09);
      case 0x75: {
        const n = this.hexEscape();
        if (n >= 0xdc00 && n <= 0xdfff) throw this.error('LoneLeadingSurrogateInHexEscape');
        if (n < 0xd800 || n > 0xdbff) return utf8Bytes(n);
        if (this.peek() === 0x5c) {
          this.i++;
        } else {
          if (this.peek() === -1) throw this.error('EofWhileParsingString');
          this.i++;
          throw this.error('UnexpectedEndOfHexEscape');
        }
        if (this.peek() === 0x75) {
          this.i++;
        } else {
          if (this.peek() === -1) throw this.error('EofWhileParsingString');
          this.i++;
          throw this.error('UnexpectedEndOfHexEscape');
        }
        const n2 = this.hexEscape();
        if (n2 < 0xdc00 || n2 > 0xdfff) throw this.error('LoneLeadingSurrogateInHexEscape');
        return utf8Bytes(((n - 0xd800) << 10) + (n2 - 0xdc00) + 0x10000);
      }
      default:
        throw this.error('InvalidEscape');
    }
  }

  // --- skipping (serde_json's ignore_value: syntax only) -------------------------------------

  ignoreStr() {
    for (;;) {
      this.skipPlain();
      const c = this.peek();
      if (c === -1) throw this.error('EofWhileParsingString');
      if (c === 0x22) {
        this.i++;
        return;
      }
      if (c === 0x5c) {
        this.i++;
        const e = this.next();
        if (e === -1) throw this.error('EofWhileParsingString');
        if (e === 0x75) this.hexEscape();
        else if (!'"\\/bfnrt'.includes(String.fromCharCode(e))) throw this.error('InvalidEscape');
        continue;
      }
      throw this.error('ControlCharacterWhileParsingString');
    }
  }

  ignoreNumber() {
    const c = this.next();
    if (c === 0x30) {
      if (isDigit(this.peek())) throw this.peekError('InvalidNumber');
    } else if (c >= 0x31 && c <= 0x39) {
      while (isDigit(this.peek())) this.i++;
    } else {
      throw this.error('InvalidNumber');
    }
    if (this.peek() === 0x2e) {
      this.i++;
      let digits = 0;
      while (isDigit(this.peek())) {
        this.i++;
        digits++;
      }
      if (digits === 0) throw this.peekError('InvalidNumber');
    }
    const e = this.peek();
    if (e === 0x65 || e === 0x45) {
      this.i++;
      const s = this.peek();
      if (s === 0x2b || s === 0x2d) this.i++;
      if (!isDigit(this.next())) throw this.error('InvalidNumber');
      while (isDigit(this.peek())) this.i++;
    }
  }

  ignoreValue() {
    const stack = [];
    let enclosing = null;
    for (;;) {
      const peek = this.ws();
      if (peek === -1) throw this.peekError('EofWhileParsingValue');
      let frame = null;
      switch (peek) {
        case 0x6e: this.i++; this.ident('ull'); break;
        case 0x74: this.i++; this.ident('rue'); break;
        case 0x66: this.i++; this.ident('alse'); break;
        case 0x2d: this.i++; this.ignoreNumber(); break;
        case 0x22: this.i++; this.ignoreStr(); break;
        case 0x5b:
        case 0x7b:
          if (enclosing !== null) stack.push(enclosing);
          enclosing = null;
          this.i++;
          frame = peek;
          break;
        default:
          if (isDigit(peek)) this.ignoreNumber();
          else throw this.peekError('ExpectedSomeValue');
      }
      let acceptComma;
      if (frame !== null) {
        acceptComma = false;
      } else if (enclosing !== null) {
        frame = enclosing;
        enclosing = null;
        acceptComma = true;
      } else if (stack.length > 0) {
        frame = stack.pop();
        acceptComma = true;
      } else {
        return;
      }
      for (;;) {
        const c = this.ws();
        if (c === 0x2c && acceptComma) {
          this.i++;
          break;
        } else if ((c === 0x5d && frame === 0x5b) || (c === 0x7d && frame === 0x7b)) {
          // closes the frame
        } else if (c !== -1) {
          if (acceptComma) {
            throw this.peekError(frame === 0x5b ? 'ExpectedListCommaOrEnd' : 'ExpectedObjectCommaOrEnd');
          }
          break;
        } else {
          throw this.peekError(frame === 0x5b ? 'EofWhileParsingList' : 'EofWhileParsingObject');
        }
        this.i++;
        if (stack.length === 0) return;
        frame = stack.pop();
        acceptComma = true;
      }
      if (frame === 0x7b) {
        const c = this.ws();
        if (c === 0x22) this.i++;
        else if (c === -1) throw this.peekError('EofWhileParsingObject');
        else throw this.peekError('KeyMustBeAString');
        this.ignoreStr();
        const colon = this.ws();
        if (colon === 0x3a) this.i++;
        else if (colon === -1) throw this.peekError('EofWhileParsingObject');
        else throw this.peekError('ExpectedColon');
      }
      enclosing = frame;
    }
  }

  // --- sequences and maps (serde_json's SeqAccess / MapAccess) -----------------------------

  hasNextElement(state) {
    const c = this.ws();
    if (c === -1) throw this.peekError('EofWhileParsingList');
    if (c === 0x5d) return false;
    if (state.first) {
      state.first = false;
      return true;
    }
    if (c !== 0x2c) throw this.peekError('ExpectedListCommaOrEnd');
    this.i++;
    const d = this.ws();
    if (d === 0x5d) throw this.peekError('TrailingComma');
    if (d === -1) throw this.peekError('EofWhileParsingValue');
    return true;
  }

  hasNextKey(state) {
    const c = this.ws();
    if (c === -1) throw this.peekError('EofWhileParsingObject');
    if (c === 0x7d) return false;
    if (state.first) {
      state.first = false;
      if (c === 0x22) return true;
      throw this.peekError('KeyMustBeAString');
    }
    if (c !== 0x2c) throw this.peekError('ExpectedObjectCommaOrEnd');
    this.i++;
    const d = this.ws();
    if (d === 0x22) return true;
    if (d === 0x7d) throw this.peekError('TrailingComma');
    if (d === -1) throw this.peekError('EofWhileParsingValue');
    throw this.peekError('KeyMustBeAString');
  }

  /** A map key: the string (the caller checked the opening quote is next). */
  key() {
    this.ws();
    this.i++;
    return this.str();
  }

  colon() {
    const c = this.ws();
    if (c === 0x3a) {
      this.i++;
      return;
    }
    throw this.peekError(c === -1 ? 'EofWhileParsingObject' : 'ExpectedColon');
  }

  endSeq() {
    const c = this.ws();
    if (c === 0x5d) {
      this.i++;
      return null;
    }
    if (c === 0x2c) {
      this.i++;
      return this.peekError(this.ws() === 0x5d ? 'TrailingComma' : 'TrailingCharacters');
    }
    return this.peekError(c === -1 ? 'EofWhileParsingList' : 'TrailingCharacters');
  }

  endMap() {
    const c = this.ws();
    if (c === 0x7d) {
      this.i++;
      return null;
    }
    if (c === 0x2c) return this.peekError('TrailingComma');
    return this.peekError(c === -1 ? 'EofWhileParsingObject' : 'TrailingCharacters');
  }

  /** `[` or `{` with the recursion check, then `visit`, then the closing bracket. */
  compound(open, visit) {
    this.enter();
    this.i++;
    let result;
    let failure = null;
    try {
      result = visit();
    } catch (e) {
      failure = e;
    }
    this.leave();
    const endError = open === 0x5b ? this.endSeq() : this.endMap();
    if (failure !== null) throw failure;
    if (endError !== null) throw endError;
    return result;
  }

  /** serde_json's peek_invalid_type: consumes a scalar, describes what was found. */
  invalidType(expected) {
    const c = this.peek();
    let unexpected;
    switch (c) {
      case 0x6e: this.i++; this.ident('ull'); unexpected = 'null'; break;
      case 0x74: this.i++; this.ident('rue'); unexpected = 'boolean `true`'; break;
      case 0x66: this.i++; this.ident('alse'); unexpected = 'boolean `false`'; break;
      case 0x22: this.i++; unexpected = `string ${rustDebugStr(this.str())}`; break;
      case 0x5b: unexpected = 'sequence'; break;
      case 0x7b: unexpected = 'map'; break;
      case 0x2d:
      default: {
        if (c !== 0x2d && !isDigit(c)) return this.peekError('ExpectedSomeValue');
        const positive = c !== 0x2d;
        if (!positive) this.i++;
        const n = this.anyNumber(positive);
        unexpected =
          n instanceof JsonInt
            ? `integer \`${n.value}\``
            : `floating point \`${formatFloat(n.value)}\``;
      }
    }
    return new Unplaced(`invalid type: ${unexpected}, expected ${expected}`);
  }

  /** Runs `body`, giving an unplaced error the current position (serde's fix_position). */
  placed(body) {
    try {
      return body();
    } catch (e) {
      throw this.fixPosition(e);
    }
  }

  // --- typed reads --------------------------------------------------------------------------

  /** A `String`. */
  string() {
    const c = this.ws();
    if (c === -1) throw this.peekError('EofWhileParsingValue');
    return this.placed(() => {
      if (c === 0x22) {
        this.i++;
        return this.str();
      }
      throw this.invalidType('a string');
    });
  }

  /** A `serde_json::Value`. */
  value() {
    const c = this.ws();
    if (c === -1) throw this.peekError('EofWhileParsingValue');
    switch (c) {
      case 0x6e: this.i++; this.ident('ull'); return null;
      case 0x74: this.i++; this.ident('rue'); return true;
      case 0x66: this.i++; this.ident('alse'); return false;
      case 0x2d: this.i++; return this.anyNumber(false);
      case 0x22: this.i++; return this.str();
      case 0x5b:
        return this.compound(0x5b, () => {
          const items = [];
          const state = { first: true };
          while (this.hasNextElement(state)) items.push(this.value());
          return items;
        });
      case 0x7b:
        return this.compound(0x7b, () => this.mapEntries());
      default:
        if (isDigit(c)) return this.anyNumber(true);
        throw this.peekError('ExpectedSomeValue');
    }
  }

  mapEntries() {
    const map = new JsonObject();
    const state = { first: true };
    while (this.hasNextKey(state)) {
      const k = this.key();
      this.colon();
      map.set(k, this.value());
    }
    return map;
  }

  /** A `serde_json::Map<String, Value>` (an object, nothing else). */
  map() {
    const c = this.ws();
    if (c === -1) throw this.peekError('EofWhileParsingValue');
    return this.placed(() => {
      if (c === 0x7b) return this.compound(0x7b, () => this.mapEntries());
      throw this.invalidType('a map');
    });
  }

  /**
   * A `#[derive(Deserialize)]` struct: `fields` is `[[name, read], ...]` in declaration order,
   * `read` reads the field's value. Accepts an object (unknown keys skipped, duplicates
   * refused) or an array of exactly the fields in order, like serde_json.
   */
  struct(name, fields) {
    const c = this.ws();
    if (c === -1) throw this.peekError('EofWhileParsingValue');
    const expecting = `struct ${name}`;
    return this.placed(() => {
      if (c === 0x5b) {
        return this.compound(0x5b, () => {
          const out = {};
          const state = { first: true };
          fields.forEach(([field, read], index) => {
            if (!this.hasNextElement(state)) {
              const n = fields.length;
              throw new Unplaced(
                `invalid length ${index}, expected ${expecting} with ${n} element${n === 1 ? '' : 's'}`,
              );
            }
            out[field] = read();
          });
          return out;
        });
      }
      if (c === 0x7b) {
        return this.compound(0x7b, () => {
          const out = {};
          const state = { first: true };
          while (this.hasNextKey(state)) {
            const k = this.key();
            const field = fields.find(([f]) => f === k);
            if (field === undefined) {
              this.colon();
              this.ignoreValue();
              continue;
            }
            if (Object.hasOwn(out, k)) throw new Unplaced(`duplicate field \`${k}\``);
            this.colon();
            out[k] = field[1]();
          }
          for (const [field] of fields) {
            if (!Object.hasOwn(out, field)) throw new Unplaced(`missing field \`${field}\``);
          }
          return out;
        });
      }
      throw this.invalidType(expecting);
    });
  }

  /** After the value: only whitespace may follow (serde_json's `Deserializer::end`). */
  end() {
    if (this.ws() !== -1) throw this.peekError('TrailingCharacters');
  }
}

function concat(parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function utf8Bytes(cp) {
  if (cp < 0x80) return Uint8Array.of(cp);
  if (cp < 0x800) return Uint8Array.of(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
  if (cp < 0x10000) {
    return Uint8Array.of(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  }
  return Uint8Array.of(
    0xf0 | (cp >> 18),
    0x80 | ((cp >> 12) & 0x3f),
    0x80 | ((cp >> 6) & 0x3f),
    0x80 | (cp & 0x3f),
  );
}

/**
 * Reads `bytes` (a Uint8Array) the way `serde_json::from_slice::<T>` does; `read` gets the
 * reader and reads one T (with `r.value()`, `r.map()`, `r.string()`, `r.struct(...)`).
 */
export function fromSlice(bytes, read) {
  const r = new Reader(bytes);
  const value = read(r);
  r.end();
  return value;
}

/** `serde_json::from_slice::<Value>`. */
export function parseValue(bytes) {
  return fromSlice(bytes, (r) => r.value());
}

// --- writing (serde_json::to_vec) -----------------------------------------------------------

/** An f64 as serde_json writes it (zmij: shortest round-trip digits, serde_json's layout). */
export function formatFloat(x) {
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  // toExponential() without an argument gives the shortest round-trip digits.
  const [mantissa, exp] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const e = Number(exp); // the exponent of the first digit
  const n = digits.length;
  let body;
  if (e >= -5 && e <= 15) {
    if (n - 1 <= e) body = `${digits}${'0'.repeat(e + 1 - n)}.0`;
    else if (e >= 0) body = `${digits.slice(0, e + 1)}.${digits.slice(e + 1)}`;
    else body = `0.${'0'.repeat(-e - 1)}${digits}`;
  } else {
    const frac = n > 1 ? `.${digits.slice(1)}` : '';
    body = `${digits[0]}${frac}e${e < 0 ? '-' : '+'}${Math.abs(e)}`;
  }
  return sign + body;
}

const ESCAPES = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function quote(s) {
  // eslint-disable-next-line no-control-regex
  return `"${s.replace(/["\\\u0000-\u001f]/g, (ch) => ESCAPES[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
}

const ASTRAL_OR_HIGH = /[\ud800-\uffff]/;

/** Code point (= UTF-8 byte) order, as Rust compares `String`s. */
function compareKeys(a, b) {
  const n = Math.min(a.length, b.length);
  for (let k = 0; k < n; k++) {
    let x = a.charCodeAt(k);
    let y = b.charCodeAt(k);
    if (x === y) continue;
    // Surrogates (U+10000 and up) sort after U+E000..U+FFFF in code point order.
    if (x >= 0xd800) x += x >= 0xe000 ? -0x800 : 0x2000;
    if (y >= 0xd800) y += y >= 0xe000 ? -0x800 : 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

/** The compact JSON text of a value read by this module (or built from the same classes). */
export function toJson(v) {
  if (v === null) return 'null';
  if (v === true) return 'true';
  if (v === false) return 'false';
  if (typeof v === 'string') return quote(v);
  if (v instanceof JsonInt) return v.value.toString();
  if (v instanceof JsonFloat) return formatFloat(v.value);
  if (Array.isArray(v)) return `[${v.map(toJson).join(',')}]`;
  if (v instanceof JsonObject) {
    const keys = [...v.entries.keys()];
    // UTF-16 order (the default sort) is code point order unless a key has a character
    // from U+D800 up.
    if (keys.some((k) => ASTRAL_OR_HIGH.test(k))) keys.sort(compareKeys);
    else keys.sort();
    return `{${keys.map((k) => `${quote(k)}:${toJson(v.entries.get(k))}`).join(',')}}`;
  }
  throw new JsonError(`not a JSON value: ${typeof v}`);
}

const encoder = new TextEncoder();

/** `serde_json::to_vec`: the compact JSON of `v` as UTF-8 bytes. */
export function toVec(v) {
  return encoder.encode(toJson(v));
}
