import { afterEach, describe, expect, it, vi } from 'vitest';
import { REDACTED } from '../../src/lib/redact.ts';
import { MAX_USER_AGENT_BYTES } from '../../src/lib/user-agent.ts';
import { expectProblem } from '../helpers/problem.ts';
import { callTestApp } from '../helpers/test-app.ts';
import { callWorker } from '../helpers/worker.ts';

const API_KEY = 'sy_live_4f9c2b7e1a8d3f6c0b5e9a2d7c4f1e8b';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZXZfMSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ';

function captureLogs() {
  const lines: string[] = [];
  for (const method of ['log', 'warn', 'error', 'info', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((line: unknown) => {
      lines.push(String(line));
    });
  }
  return lines;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('structured request logs', () => {
  it('write exactly one JSON line per request with the request fields', async () => {
    const lines = captureLogs();
    const response = await callWorker('/health', { headers: { 'User-Agent': 'probe/1.0' } });
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] ?? '');
    expect(line).toMatchObject({
      level: 'info',
      msg: 'request',
      method: 'GET',
      route: '/health',
      path: '/health',
      status: 200,
      user_agent: 'probe/1.0',
      request_id: response.headers.get('X-Request-Id'),
    });
    expect(response.headers.get('traceparent')).toContain(line.trace_id);
    expect(typeof line.duration_ms).toBe('number');
    expect(new Date(line.time).toString()).not.toBe('Invalid Date');
  });

  it('log the route template of the matched route and null for an unknown path', async () => {
    const lines = captureLogs();
    await callWorker('/nowhere/at/all');
    const line = JSON.parse(lines[0] ?? '');
    expect(line).toMatchObject({ level: 'warn', route: null, path: '/nowhere/at/all', status: 404 });
  });
});

describe('User-Agent handling', () => {
  async function requestWith(userAgent: string | undefined) {
    const lines = captureLogs();
    const response = await callWorker('/health', userAgent === undefined ? {} : { headers: { 'User-Agent': userAgent } });
    const parsed = lines.map((text) => JSON.parse(text) as Record<string, unknown>);
    vi.restoreAllMocks();
    // The request's line; a refused one also has its security_event line (test/observability/).
    return {
      response,
      line: parsed.find((entry) => entry.msg === 'request') ?? {},
      others: parsed.filter((entry) => entry.msg !== 'request'),
    };
  }

  it('serves and logs a missing or empty one as such (machine clients send none), and a usable one without a state', async () => {
    const missing = await requestWith(undefined);
    expect(missing.response.status).toBe(200);
    expect(missing.line).toMatchObject({ status: 200, user_agent_state: 'missing' });
    const empty = await requestWith('');
    expect(empty.response.status).toBe(200);
    expect(empty.line).toMatchObject({ status: 200, user_agent_state: 'empty' });
    const usable = await requestWith('probe/1.0 (tab\tallowed)');
    expect(usable.response.status).toBe(200);
    expect(usable.line).not.toHaveProperty('user_agent_state');
    const longest = await requestWith('a'.repeat(MAX_USER_AGENT_BYTES));
    expect(longest.response.status).toBe(200);
  });

  it.each([
    ['a control character', 'probe/1.0\u0001'],
    ['an escape sequence', 'probe/1.0 \u001b[31mred'],
    ['DEL', 'probe\u007f/1.0'],
    [`over ${MAX_USER_AGENT_BYTES} bytes`, 'a'.repeat(MAX_USER_AGENT_BYTES + 1)],
  ])('refuses one with %s (400 invalid_user_agent), logged as malformed and cut', async (_label, userAgent) => {
    const { response, line, others } = await requestWith(userAgent);
    await expectProblem(response, 400, 'invalid_user_agent');
    expect(line).toMatchObject({ status: 400, user_agent_state: 'malformed' });
    expect(String(line.user_agent).length).toBeLessThanOrEqual(256);
    expect(others).toEqual([expect.objectContaining({ msg: 'security_event', event: 'user_agent_refused' })]);
    // The security event does not repeat the User-Agent: the request line has it, cut.
    expect(JSON.stringify(others)).not.toContain(userAgent.slice(0, 20));
  });
});

describe('secrets never reach a log line', () => {
  it('redacts credentials in the query string', async () => {
    const lines = captureLogs();
    await callWorker(`/health?token=${JWT}&api_key=${API_KEY}&access_token=abc123`);
    const text = lines.join('\n');
    expect(text).not.toContain(API_KEY);
    expect(text).not.toContain(JWT);
    expect(text).not.toContain('abc123');
    expect(text).toContain(`token=${REDACTED}`);
  });

  it('does not log Authorization or Cookie headers', async () => {
    const lines = captureLogs();
    await callWorker('/health', { headers: { Authorization: `Bearer ${API_KEY}`, Cookie: 'session=s3cr3tcookie' } });
    const text = lines.join('\n');
    expect(text).not.toContain(API_KEY);
    expect(text).not.toContain('s3cr3tcookie');
  });

  it('scrubs secrets from an unexpected error logged with its stack', async () => {
    const lines = captureLogs();
    const response = await callTestApp('/test/boom');
    expect(response.status).toBe(500);
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] ?? '');
    expect(line.level).toBe('error');
    // The operator gets the real error (the client does not), minus the credential inside it.
    expect(line.error.message).toContain('SELECT * FROM api_keys');
    expect(line.error.message).toContain(`Bearer ${REDACTED}`);
    expect(line.error.stack).toBeTypeOf('string');
    expect(lines[0]).not.toContain('sy_live_abc123SECRET');
  });
});
