// `js-adobe-to-json`: the JavaScript twin of guest-examples/rust/adobe-to-json, same input,
// same output. A transformer that flattens an Adobe-style envelope
// `{"data":{"uid":"..","event":"..","value":{...}}}` into one JSON object: all the fields of
// `value`, plus `uid` and `event`. Sets `content-type: application/json` and
// `x-hookgate-event: <event>`; keeps the draft's method and URL; logs `transformed <uid>`.
// No config keys.

import { log } from 'hookgate:plugin/host@0.1.0';
import { setHeader } from '../lib/headers.js';
import { fromSlice, JsonError, toVec } from '../lib/serde-json.js';

// The Rust twin's `#[derive(Deserialize)] struct Envelope { data: Data }` and
// `struct Data { uid: String, event: String, value: Map<String, Value> }`.
function readEnvelope(r) {
  const data = () =>
    r.struct('Data', [
      ['uid', () => r.string()],
      ['event', () => r.string()],
      ['value', () => r.map()],
    ]);
  return r.struct('Envelope', [['data', data]]);
}

export const transform = {
  transform(message, draft) {
    let data;
    try {
      data = fromSlice(message.body, readEnvelope).data;
    } catch (e) {
      if (!(e instanceof JsonError)) throw e;
      return {
        tag: 'error',
        val: `adobe-to-json: expected {"data":{"uid","event","value"}}: ${e.message}`,
      };
    }
    const { uid, event, value: flat } = data;
    flat.set('uid', uid);
    flat.set('event', event);
    let headers = setHeader(draft.headers, 'content-type', 'application/json');
    headers = setHeader(headers, 'x-hookgate-event', event);
    log('info', `transformed ${uid}`);
    return {
      tag: 'send',
      val: { method: draft.method, url: draft.url, headers, body: toVec(flat) },
    };
  },
};
