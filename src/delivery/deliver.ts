/**
 * @module
 * The webhook queue's consumer: each message names a delivery (one event, one endpoint), and each
 * is attempted once per message at most, under a lease on its row. An attempt signs the event as
 * Standard Webhooks has it, POSTs it with a 15 s timeout and no redirect followed, records the
 * attempt, and settles the delivery: succeeded on a 2xx; otherwise due again on the retry schedule
 * (the message is retried with that delay), or failed once the schedule is spent (the message then
 * goes to the dead-letter queue). An endpoint failing for 5 days with no success is disabled, with
 * its `webhook_endpoint.disabled` event and an audit row, in one batch. A circuit breaker per endpoint
 * (per isolate) stops attempts to a receiver that keeps failing for a minute, without counting them.
 */
import * as auditEvents from '../db/audit-events.ts';
import { dispatchEvents } from '../db/event-dispatch.ts';
import * as events from '../db/events.ts';
import * as organizations from '../db/organizations.ts';
import * as webhookAttempts from '../db/webhook-attempts.ts';
import * as webhookDeliveries from '../db/webhook-deliveries.ts';
import * as webhookEndpoints from '../db/webhook-endpoints.ts';
import type { Config } from '../env.ts';
import { open, storageKeyring } from '../lib/encryption.ts';
import { newId } from '../lib/ids.ts';
import type { Logger } from '../lib/logger.ts';
import { recordEvent, type Telemetry } from '../lib/metrics.ts';
import { breakerFor, CircuitOpenError, stepBreaker } from '../lib/resilience.ts';
import { recordSecurityEvent } from '../lib/security-events.ts';
import { webhookSecretSealingContext } from '../lib/webhook-secret.ts';
import { signWebhook } from '../lib/webhook-signature.ts';
import { checkWebhookUrl } from '../lib/webhook-url.ts';
import { API_VERSION } from '../openapi.ts';
import { presentEvent } from '../routes/events/present.ts';
import { presentWebhookEndpoint } from '../routes/webhook-endpoints/present.ts';
import { webhookOperationId } from '../schemas/events.ts';
import { ATTEMPT_TIMEOUT_MS, type DeliveryMessage, DISABLE_AFTER_FAILING_MS, RETRY_SCHEDULE_SECONDS } from '../schemas/webhook-attempts.ts';
import type { JsonObject } from '../versions/change.ts';
import { responseIn } from '../versions/render.ts';
import { API_VERSION_HEADER, NEWEST_API_VERSION } from '../versions/versions.ts';

/** A queue's delay is not to the millisecond: a message this early is attempted all the same. */
const EARLY_MS = 2_000;
/** How long a consumer holds a delivery: its attempt's timeout and time to record it. */
const LEASE_MS = ATTEMPT_TIMEOUT_MS + 15_000;
/** Consecutive failures that open an endpoint's circuit, and how long it then stays open. */
const ENDPOINT_BREAKER = { failureThreshold: 5, openMs: 60_000 } as const;
const USER_AGENT = `Switchyard-Webhooks/${API_VERSION}`;

type Outcome = webhookAttempts.AttemptOutcome;

interface Sent {
  outcome: Outcome;
  statusCode: number | null;
  durationMs: number;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Sends the signed request, never following a redirect (its target was never checked). */
async function send(config: Config, url: string, headers: Record<string, string>, body: string): Promise<Sent> {
  const started = performance.now();
  const request = new Request(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS) });
  try {
    const response = config.webhookEgress ? await config.webhookEgress.fetch(request) : await fetch(request);
    // Only the status counts: the body is not read, so a receiver cannot make the Worker wait on it.
    await response.body?.cancel();
    const outcome = response.status >= 200 && response.status < 300 ? 'succeeded' : 'failed';
    return { outcome, statusCode: response.status, durationMs: Math.round(performance.now() - started) };
  } catch (error) {
    const timedOut = error instanceof DOMException && (error.name === 'TimeoutError' || error.name === 'AbortError');
    return { outcome: timedOut ? 'timeout' : 'network_error', statusCode: null, durationMs: Math.round(performance.now() - started) };
  }
}

/** The secrets that sign now: the current one and, during a rotation's overlap, the one it replaced. */
async function signingSecrets(config: Config, endpoint: webhookEndpoints.WebhookEndpointRecord, now: number): Promise<string[]> {
  const keyring = await storageKeyring(config.storageSecrets.current, config.storageSecrets.previous);
  const context = webhookSecretSealingContext(endpoint.orgId, endpoint.id);
  const sealed = [endpoint.secretSealed];
  if (
    endpoint.previousSecretSealed !== null &&
    endpoint.previousSecretExpiresAt !== null &&
    Date.parse(endpoint.previousSecretExpiresAt) > now
  ) {
    sealed.push(endpoint.previousSecretSealed);
  }
  const secrets: string[] = [];
  for (const value of sealed) {
    const secret = await open(keyring, value, context);
    if (secret === undefined) throw new Error(`webhook endpoint ${endpoint.id}: a signing secret does not open with the storage keyring`);
    secrets.push(secret);
  }
  return secrets;
}

/**
 * Disables an endpoint failing since before the window, with its event and audit row in one batch,
 * unless it recovered or changed meanwhile; then dispatches that event to the endpoints that want it.
 */
async function disableIfFailingTooLong(
  config: Config,
  logger: Logger,
  endpoint: webhookEndpoints.WebhookEndpointRecord,
  failingSince: string,
  now: number,
  reference: string,
): Promise<void> {
  if (Date.parse(failingSince) > now - DISABLE_AFTER_FAILING_MS) return;
  const at = iso(now);
  const disabled = { ...endpoint, enabled: false, version: endpoint.version + 1, updatedAt: at, failingSince };
  const { db } = config;
  const audit = { orgId: endpoint.orgId, actorKeyId: null, requestId: reference, ipHash: null, userAgent: null };
  const results = await db.batch([
    webhookEndpoints.disableFailingEndpoint(db, endpoint, iso(now - DISABLE_AFTER_FAILING_MS), at),
    auditEvents.insertAuditEvent(
      db,
      audit,
      { action: 'webhook_endpoint.disabled', targetType: 'webhook_endpoint', targetId: endpoint.id, at },
      { onlyIfChanged: true },
    ),
    events.insertEvent(
      db,
      {
        id: newId('event'),
        orgId: endpoint.orgId,
        type: 'webhook_endpoint.disabled',
        data: JSON.stringify(presentWebhookEndpoint(disabled)),
        createdAt: at,
      },
      { onlyIfChanged: true },
    ),
  ]);
  if ((results[0]?.meta.changes ?? 0) === 0) return;
  logger.warn('webhook endpoint disabled after failing for 5 days', { endpoint_id: endpoint.id, failing_since: failingSince });
  await dispatchEvents(config, { orgId: endpoint.orgId });
}

async function deliver(message: Message<DeliveryMessage>, config: Config, logger: Logger): Promise<void> {
  const { db } = config;
  const deliveryId = (message.body as Partial<DeliveryMessage> | null)?.deliveryId;
  const delivery = typeof deliveryId === 'string' ? await webhookDeliveries.getDelivery(db, deliveryId) : undefined;
  if (delivery === undefined || delivery.status !== 'pending' || delivery.nextAttemptAt === null) {
    message.ack();
    return;
  }
  const now = Date.now();
  const due = Date.parse(delivery.nextAttemptAt);
  if (due > now + EARLY_MS) {
    // Sent again by the sweep before its time, or a message older than the delivery's schedule.
    message.retry({ delaySeconds: Math.ceil((due - now) / 1000) });
    return;
  }
  if (!(await webhookDeliveries.leaseDelivery(db, delivery.id, iso(now), iso(now + EARLY_MS), iso(now + LEASE_MS)))) {
    // Another consumer holds it; if that one stops, the sweep sends the delivery again.
    message.ack();
    return;
  }
  const [event, endpoint, organization] = await Promise.all([
    events.getEvent(db, delivery.orgId, delivery.eventId),
    webhookEndpoints.getWebhookEndpoint(db, delivery.orgId, delivery.endpointId),
    organizations.getOrganization(db, delivery.orgId),
  ]);
  if (event === undefined || endpoint === undefined || !endpoint.enabled) {
    // Deleted or disabled since the dispatch, or the event is past its retention: nothing to send.
    await webhookDeliveries.abandonDelivery(db, delivery.id, iso(now)).run();
    message.ack();
    return;
  }
  const telemetry: Telemetry = { dataset: config.metrics, orgId: delivery.orgId };
  const breaker = breakerFor(config.webhookQueue, `webhook endpoint ${endpoint.id}`, ENDPOINT_BREAKER);
  // One breaker per endpoint, counted as one dependency: the endpoint is in the attempt's metric.
  const stepEndpointBreaker = (move: () => void) => stepBreaker(breaker, telemetry, 'webhook endpoint', move);
  try {
    stepEndpointBreaker(() => breaker.admit(now));
  } catch (error) {
    if (!(error instanceof CircuitOpenError)) throw error;
    await webhookDeliveries.postponeDelivery(db, delivery.id, iso(now + error.retryAfterMs), iso(now)).run();
    message.retry({ delaySeconds: Math.ceil(error.retryAfterMs / 1000) });
    return;
  }

  const verdict = checkWebhookUrl(endpoint.url, config.environment);
  let sent: Sent;
  if (verdict.ok) {
    // Rendered in the organisation's default version as it is when sent, like a request without a version header.
    const version = organization?.apiVersion ?? NEWEST_API_VERSION;
    const body = JSON.stringify(responseIn(version, webhookOperationId(event.type), presentEvent(event) as JsonObject));
    const timestamp = Math.floor(now / 1000);
    const headers = {
      'Content-Type': 'application/json',
      [API_VERSION_HEADER]: version,
      'User-Agent': USER_AGENT,
      'webhook-id': event.id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': await signWebhook(await signingSecrets(config, endpoint, now), event.id, timestamp, body),
    };
    sent = await send(config, verdict.url, headers, body);
  } else {
    // Stored under other rules (outside production), or a rule added since: never sent.
    sent = { outcome: 'not_allowed', statusCode: null, durationMs: 0 };
    recordSecurityEvent(logger, telemetry, {
      event: 'ssrf_refused',
      reason: 'url_not_allowed',
      details: { rule: verdict.reason, endpoint_id: endpoint.id, delivery_id: delivery.id },
    });
  }
  const succeeded = sent.outcome === 'succeeded';
  if (succeeded) stepEndpointBreaker(() => breaker.succeeded());
  else if (sent.outcome !== 'not_allowed') stepEndpointBreaker(() => breaker.failed(now));

  const attempt = delivery.attempts + 1;
  // Counted from where the schedule last (re)started: a resent delivery gets the whole schedule again.
  const retryIn = succeeded ? undefined : RETRY_SCHEDULE_SECONDS[attempt - delivery.scheduleFrom];
  const nextAttemptAt = retryIn === undefined ? null : iso(now + retryIn * 1000);
  const status = succeeded ? 'succeeded' : nextAttemptAt === null ? 'failed' : 'pending';
  const at = iso(now);
  await db.batch([
    webhookDeliveries.settleAttempt(db, delivery, { status, nextAttemptAt, at }),
    webhookAttempts.insertAttempt(db, {
      id: newId('webhookAttempt'),
      orgId: delivery.orgId,
      endpointId: endpoint.id,
      deliveryId: delivery.id,
      eventId: event.id,
      attempt,
      outcome: sent.outcome,
      statusCode: sent.statusCode,
      durationMs: sent.durationMs,
      nextAttemptAt,
      createdAt: at,
    }),
    succeeded
      ? webhookEndpoints.recordEndpointSuccess(db, endpoint.orgId, endpoint.id)
      : webhookEndpoints.recordEndpointFailure(db, endpoint.orgId, endpoint.id, at),
  ]);
  recordEvent(telemetry, {
    kind: 'webhook_attempt',
    name: sent.outcome,
    detail: endpoint.id,
    value: sent.statusCode ?? 0,
    durationMs: sent.durationMs,
  });
  logger.info('webhook attempt', {
    delivery_id: delivery.id,
    endpoint_id: endpoint.id,
    event_id: event.id,
    attempt,
    outcome: sent.outcome,
    status_code: sent.statusCode,
    duration_ms: sent.durationMs,
    next_attempt_at: nextAttemptAt,
  });
  if (succeeded) {
    message.ack();
    return;
  }
  await disableIfFailingTooLong(config, logger, endpoint, endpoint.failingSince ?? at, now, `queue:${message.id}`);
  // Pending: due again after its delay. Failed for good: retried once more, which sends the message
  // to the dead-letter queue when the queue's own count is spent (and is acked here otherwise).
  message.retry(retryIn === undefined ? {} : { delaySeconds: retryIn });
}

/**
 * Attempts every delivery of the batch at once: a receiver taking its full 15 s holds up no other.
 * A message whose handling fails (D1 unreachable) is retried in a minute, without an attempt counted.
 */
export async function deliverBatch(batch: MessageBatch<DeliveryMessage>, config: Config, logger: Logger): Promise<void> {
  await Promise.all(
    batch.messages.map((message) =>
      deliver(message, config, logger).catch((error: unknown) => {
        logger.error('webhook delivery could not run; retried in a minute', { message_id: message.id, error });
        message.retry({ delaySeconds: 60 });
      }),
    ),
  );
}

/**
 * The dead-letter queue's consumer: a message lands here when its delivery's last attempt failed
 * (or its handling kept failing). The delivery is recorded as failed if it is not settled yet.
 */
export async function recordDeadLetters(batch: MessageBatch<DeliveryMessage>, config: Config, logger: Logger): Promise<void> {
  const at = new Date().toISOString();
  for (const message of batch.messages) {
    const deliveryId = (message.body as Partial<DeliveryMessage> | null)?.deliveryId;
    if (typeof deliveryId === 'string') {
      const abandoned = await webhookDeliveries.abandonDelivery(config.db, deliveryId, at).run();
      logger.error('webhook delivery dead-lettered', { delivery_id: deliveryId, settled_now: abandoned.meta.changes > 0 });
    }
    message.ack();
  }
}
