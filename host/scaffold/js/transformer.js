// {{name}}: a hookgate transformer. Wraps the event's JSON data in an envelope with the
// event id and marks the request with a header.
import { log } from 'hookgate:plugin/host@0.1.0';

export const transform = {
  transform(message, draft) {
    let data;
    try {
      data = JSON.parse(new TextDecoder().decode(message.body));
    } catch (e) {
      return { tag: 'error', val: `the message is not JSON: ${e}` };
    }
    const body = new TextEncoder().encode(JSON.stringify({ event: message.eventId, data }));
    const headers = draft.headers.filter(([k]) => k.toLowerCase() !== 'content-type');
    headers.push(['content-type', 'application/json'], ['x-transformed-by', '{{name}}']);
    log('info', `transformed ${message.messageId}`);
    return { tag: 'send', val: { ...draft, headers, body } };
  },
};
