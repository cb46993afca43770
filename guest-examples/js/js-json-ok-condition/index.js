// `js-json-ok-condition`: the JavaScript twin of guest-examples/rust/json-ok-condition. A
// condition that reads the target's JSON answer: `{"ok": true}` is a success, `{"ok": false}`
// asks for a retry on the normal schedule, anything else (not JSON, no boolean `ok`) fails the
// delivery. No config keys.

export const evaluate = {
  evaluate(_request, response, _attempt) {
    let ok;
    try {
      ok = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(response.body))?.ok;
    } catch {
      // Not JSON (or not UTF-8): no `ok` field.
    }
    if (ok === true) return { tag: 'success' };
    if (ok === false) return { tag: 'retry', val: undefined };
    return { tag: 'fail', val: 'json-ok-condition: response has no boolean ok field' };
  },
};
