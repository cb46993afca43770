// `js-adobe-to-json`: the JavaScript twin of guest-examples/rust/adobe-to-json. A transformer
// that flattens an Adobe-style envelope `{"data":{"uid":"..","event":"..","value":{...}}}`
// into one JSON object: the fields of `value`, plus `uid` and `event`. Sets
// `content-type: application/json` and `x-hookgate-event: <event>`, keeps the draft's method
// and URL, logs `transformed <uid>`. No config keys.

import { log } from 'hookgate:plugin/host@0.1.0';

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `{uid, event, value}` of the envelope in `bytes`; throws when it is not one. */
function parseEnvelope(bytes) {
  // fatal: invalid UTF-8 is an error rather than U+FFFD.
  const envelope = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  const { uid, event, value } = envelope?.data ?? {};
  if (typeof uid !== 'string' || typeof event !== 'string' || !isObject(value)) {
    throw new Error('no data object with a string uid, a string event and an object value');
  }
  return { uid, event, value };
}

/** `headers` without any called `name` (lower case; matched in any case), then `name: value`. */
const withHeader = (headers, name, value) => [
  ...headers.filter(([n]) => n.toLowerCase() !== name),
  [name, value],
];

/** JSON.stringify replacer: objects with their keys sorted, as the Rust twin writes them. */
const byKey = ([a], [b]) => (a < b ? -1 : a > b ? 1 : 0);
const sortKeys = (_key, v) => (isObject(v) ? Object.fromEntries(Object.entries(v).sort(byKey)) : v);

export const transform = {
  transform(message, draft) {
    let envelope;
    try {
      envelope = parseEnvelope(message.body);
    } catch (e) {
      return { tag: 'error', val: `adobe-to-json: expected {"data":{"uid","event","value"}}: ${e.message}` };
    }
    const { uid, event, value } = envelope;
    const body = JSON.stringify({ ...value, uid, event }, sortKeys);
    let headers = withHeader(draft.headers, 'content-type', 'application/json');
    headers = withHeader(headers, 'x-hookgate-event', event);
    log('info', `transformed ${uid}`);
    return { tag: 'send', val: { ...draft, headers, body: new TextEncoder().encode(body) } };
  },
};
