/**
 * requestUrlParts must say what `new URL(url)` says of every URL a request can carry: the request
 * log, the query-string key check and the idempotency fingerprint rely on it.
 */
import { describe, expect, it } from 'vitest';
import { requestUrlParts } from '../../src/lib/request-url.ts';

const URLS = [
  'https://api.switchyard.dev/v1/devices',
  'https://api.switchyard.dev/v1/devices?limit=50',
  'https://api.switchyard.dev/v1/devices?',
  'https://api.switchyard.dev/',
  'https://api.switchyard.dev',
  'https://api.switchyard.dev?x=1',
  'http://127.0.0.1:8787/v1/devices/dev_1?a=1&b=%20c',
  'https://api.switchyard.dev/v1/dev%C3%A9ces/%2F?q=caf%C3%A9&api_key=sy_live_x',
  'https://user:pass@api.switchyard.dev:8443/a//b/?x=?y',
  'https://api.switchyard.dev/a b/ü?ü=1',
];

describe('requestUrlParts', () => {
  for (const raw of URLS) {
    it(`reads ${raw} as URL does`, () => {
      // Through Request, as the runtime hands the Worker its URL: already parsed and serialised.
      const url = new Request(raw).url;
      const parsed = new URL(url);
      expect(requestUrlParts(url)).toEqual({ pathname: parsed.pathname, search: parsed.search });
    });
  }
});
