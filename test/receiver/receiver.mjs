// A webhook receiver for the tests: a second Worker in the test runtime, that the Worker under test
// sends its webhook requests to (the WEBHOOK_EGRESS service binding in vitest.config.ts), whatever
// their URL. Plain JavaScript: auxiliary Workers are not compiled.
//
// Each endpoint URL's last path segment names an inbox. A request to it is recorded (method, URL,
// headers, body) and answered with the next entry of the inbox's plan: a status (200 when the plan is
// empty), or {status, location} for a redirect. The tests reach it through the RECEIVER binding:
//   PUT  /plans/<inbox>     body: a JSON array of plan entries
//   GET  /inboxes/<inbox>   the requests it got, oldest first
const inboxes = new Map();
const plans = new Map();

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const [, kind, name] = url.pathname.split('/');
    if (url.hostname === 'receiver' && kind === 'plans' && request.method === 'PUT') {
      plans.set(name, await request.json());
      return new Response(null, { status: 204 });
    }
    if (url.hostname === 'receiver' && kind === 'inboxes') {
      return Response.json(inboxes.get(name) ?? []);
    }
    const inbox = url.pathname.split('/').filter(Boolean).at(-1) ?? '';
    // Filed before the body is read, so that concurrent requests keep their order of arrival.
    if (!inboxes.has(inbox)) inboxes.set(inbox, []);
    const entry = { method: request.method, url: request.url, redirect: request.redirect, headers: Object.fromEntries(request.headers), body: '' };
    inboxes.get(inbox).push(entry);
    entry.body = await request.text();
    const next = (plans.get(inbox) ?? []).shift() ?? 200;
    if (typeof next === 'object') return new Response(null, { status: next.status, headers: { Location: next.location } });
    return new Response(next >= 200 && next < 300 ? 'ok' : 'not ok', { status: next });
  },
};
