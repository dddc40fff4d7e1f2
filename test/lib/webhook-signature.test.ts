/**
 * Standard Webhooks signatures: the specification's published vector, signing with several secrets
 * during a rotation, and every way verification refuses a delivery (each with its reason).
 */
import { describe, expect, it } from 'vitest';
import { generateWebhookSecret } from '../../src/lib/webhook-secret.ts';
import { signWebhook, verifyWebhook, WEBHOOK_TOLERANCE_SECONDS, WebhookVerificationError } from '../../src/lib/webhook-signature.ts';

// The test vector of the Standard Webhooks specification (its reference libraries' "sign" test).
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const AT_VECTOR = { now: new Date(VECTOR.timestamp * 1000) };

function vectorHeaders(overrides: Record<string, string> = {}): Record<string, string> {
  return { 'webhook-id': VECTOR.id, 'webhook-timestamp': String(VECTOR.timestamp), 'webhook-signature': VECTOR.signature, ...overrides };
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(WebhookVerificationError);
  return (error as WebhookVerificationError).reason;
}

describe('signWebhook', () => {
  it("reproduces the specification's vector", async () => {
    expect(await signWebhook([VECTOR.secret], VECTOR.id, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
  });

  it('signs with every secret given, space-separated, so a receiver holding either verifies', async () => {
    const [current, previous] = [generateWebhookSecret(), generateWebhookSecret()];
    const signature = await signWebhook([current, previous], 'msg_1', VECTOR.timestamp, '{}');
    expect(signature.split(' ')).toHaveLength(2);
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(VECTOR.timestamp), 'webhook-signature': signature };
    expect(await verifyWebhook('{}', headers, current, AT_VECTOR)).toEqual({});
    expect(await verifyWebhook('{}', headers, [previous], AT_VECTOR)).toEqual({});
    expect(await refusal(verifyWebhook('{}', headers, generateWebhookSecret(), AT_VECTOR))).toBe('invalid_signature');
  });
});

describe('verifyWebhook', () => {
  it('returns the parsed body of a genuine delivery, from a Headers object or a plain record', async () => {
    expect(await verifyWebhook(VECTOR.body, new Headers(vectorHeaders()), VECTOR.secret, AT_VECTOR)).toEqual({ test: 2432232314 });
    const upperCase = { 'Webhook-Id': VECTOR.id, 'Webhook-Timestamp': String(VECTOR.timestamp), 'Webhook-Signature': VECTOR.signature };
    expect(await verifyWebhook(VECTOR.body, upperCase, [VECTOR.secret], AT_VECTOR)).toEqual({ test: 2432232314 });
  });

  it('accepts a timestamp within the tolerance either way, and refuses one outside it (a replay)', async () => {
    const at = (offsetSeconds: number) => ({ now: new Date((VECTOR.timestamp + offsetSeconds) * 1000) });
    await expect(verifyWebhook(VECTOR.body, vectorHeaders(), VECTOR.secret, at(WEBHOOK_TOLERANCE_SECONDS))).resolves.toBeDefined();
    await expect(verifyWebhook(VECTOR.body, vectorHeaders(), VECTOR.secret, at(-WEBHOOK_TOLERANCE_SECONDS))).resolves.toBeDefined();
    expect(await refusal(verifyWebhook(VECTOR.body, vectorHeaders(), VECTOR.secret, at(WEBHOOK_TOLERANCE_SECONDS + 1)))).toBe(
      'timestamp_out_of_tolerance',
    );
    expect(await refusal(verifyWebhook(VECTOR.body, vectorHeaders(), VECTOR.secret, at(-WEBHOOK_TOLERANCE_SECONDS - 1)))).toBe(
      'timestamp_out_of_tolerance',
    );
  });

  it.each([
    ['a changed body', '{"test": 2432232315}', vectorHeaders(), 'invalid_signature'],
    ['a changed id', VECTOR.body, vectorHeaders({ 'webhook-id': 'msg_other' }), 'invalid_signature'],
    ['a changed timestamp', VECTOR.body, vectorHeaders({ 'webhook-timestamp': String(VECTOR.timestamp + 1) }), 'invalid_signature'],
    [
      'an unknown version',
      VECTOR.body,
      vectorHeaders({ 'webhook-signature': VECTOR.signature.replace('v1,', 'v2,') }),
      'invalid_signature',
    ],
    ['a signature that is not base64', VECTOR.body, vectorHeaders({ 'webhook-signature': 'v1,@@@' }), 'invalid_signature'],
    ['no webhook-id', VECTOR.body, vectorHeaders({ 'webhook-id': '' }), 'missing_headers'],
    [
      'a timestamp that is not Unix seconds',
      VECTOR.body,
      vectorHeaders({ 'webhook-timestamp': '2021-02-25T15:02:10Z' }),
      'missing_headers',
    ],
    ['no signature', VECTOR.body, vectorHeaders({ 'webhook-signature': '' }), 'missing_headers'],
  ])('refuses %s', async (_label, body, headers, reason) => {
    expect(await refusal(verifyWebhook(body, headers, VECTOR.secret, AT_VECTOR))).toBe(reason);
  });

  it('refuses when no secret given is a whsec_ secret, and a genuine signature over a body that is not JSON', async () => {
    expect(await refusal(verifyWebhook(VECTOR.body, vectorHeaders(), ['', 'whsec_!!'], AT_VECTOR))).toBe('invalid_secret');
    const body = 'not json';
    const signature = await signWebhook([VECTOR.secret], VECTOR.id, VECTOR.timestamp, body);
    expect(await refusal(verifyWebhook(body, vectorHeaders({ 'webhook-signature': signature }), VECTOR.secret, AT_VECTOR))).toBe(
      'invalid_body',
    );
  });
});
