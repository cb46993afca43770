// {{name}}: a hookgate condition. A 2xx whose JSON body says {"ok": true} is a success,
// {"ok": false} asks for a retry, anything else fails.
import { log } from 'hookgate:plugin/host@0.1.0';

export const evaluate = {
  evaluate(request, response, attempt) {
    if (response.status < 200 || response.status >= 300) {
      return { tag: 'retry', val: undefined };
    }
    let ok;
    try {
      ok = JSON.parse(new TextDecoder().decode(response.body)).ok;
    } catch {
      ok = undefined;
    }
    if (ok === true) return { tag: 'success' };
    if (ok === false) {
      log('info', `target not ready at attempt ${attempt}`);
      return { tag: 'retry', val: undefined };
    }
    return { tag: 'fail', val: 'the response has no boolean `ok`' };
  },
};
