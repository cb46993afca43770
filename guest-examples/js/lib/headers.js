// Headers as the Rust SDK handles them (hookgate_sdk::headers): names compared
// ASCII-case-insensitively, `setHeader` replaces the first match in place and drops the others.

function asciiLower(s) {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** Rust's `str::eq_ignore_ascii_case`. */
export function eqIgnoreAsciiCase(a, b) {
  return a.length === b.length && asciiLower(a) === asciiLower(b);
}

/** The value of the first header called `name`, or undefined. */
export function header(headers, name) {
  const found = headers.find(([n]) => eqIgnoreAsciiCase(n, name));
  return found === undefined ? undefined : found[1];
}

/**
 * A copy of `headers` where the first header called `name` becomes `[name, value]` and the
 * other headers of that name are gone; appended when there was none.
 */
export function setHeader(headers, name, value) {
  const first = headers.findIndex(([n]) => eqIgnoreAsciiCase(n, name));
  if (first === -1) return [...headers, [name, value]];
  return headers.flatMap(([n, v], index) => {
    if (index === first) return [[name, value]];
    return eqIgnoreAsciiCase(n, name) ? [] : [[n, v]];
  });
}
