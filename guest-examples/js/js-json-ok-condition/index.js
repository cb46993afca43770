// `js-json-ok-condition`: the JavaScript twin of guest-examples/rust/json-ok-condition. A
// condition that reads the target's JSON answer: `{"ok": true}` is a success, `{"ok": false}`
// asks for a retry on the normal schedule, anything else (not JSON, not an object, no boolean
// `ok`) fails the delivery. JSON is read exactly as the Rust twin reads it (serde_json rules).
// No config keys.

import { JsonError, JsonObject, parseValue } from '../lib/serde-json.js';

const FAIL = 'json-ok-condition: response has no boolean ok field';

export const evaluate = {
  evaluate(_request, response, _attempt) {
    let ok;
    try {
      const body = parseValue(response.body);
      ok = body instanceof JsonObject ? body.get('ok') : undefined;
    } catch (e) {
      if (!(e instanceof JsonError)) throw e;
    }
    if (ok === true) return { tag: 'success' };
    if (ok === false) return { tag: 'retry', val: undefined };
    return { tag: 'fail', val: FAIL };
  },
};
