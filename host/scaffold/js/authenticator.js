// {{name}}: a hookgate authenticator. Admits a request whose `x-api-key` header equals the
// `api_key` value of the binding's config.
import { config } from 'hookgate:plugin/host@0.1.0';

const header = (headers, name) =>
  headers.find(([k]) => k.toLowerCase() === name)?.[1];

export const authenticate = {
  check(request) {
    const expected = config('api_key');
    if (expected === undefined) {
      return { tag: 'deny', val: 'the authenticator has no `api_key` in its config' };
    }
    return header(request.headers, 'x-api-key') === expected
      ? { tag: 'allow' }
      : { tag: 'deny', val: 'missing or wrong x-api-key' };
  },
};
