/**
 * @module
 * What each problem code means and what to do about it: the page its `type` URI resolves to
 * (`/problems/{code}`, src/routes/problems/). Typed over the catalogue, so a new code without its
 * page does not compile.
 */
import type { ErrorCode } from './problem.ts';

export interface ProblemGuide {
  /** What happened, in general (the response's `detail` says what happened this time). */
  meaning: string;
  /** What the client should do next. */
  action: string;
}

export const PROBLEM_GUIDE: Record<ErrorCode, ProblemGuide> = {
  validation_failed: {
    meaning: 'A parameter, header or body field does not match the operation’s schema.',
    action:
      'Read `errors`: each entry names the field (a JSON pointer), what is wrong and a code. Fix the request; repeating it unchanged fails again.',
  },
  malformed_json: {
    meaning: 'The body is not JSON text.',
    action: 'Send a valid JSON document with `Content-Type: application/json`.',
  },
  json_too_deep: {
    meaning: 'The body nests objects or arrays deeper than 10 levels.',
    action: 'Flatten the document; `errors` points at the first place past the limit.',
  },
  invalid_characters: {
    meaning: 'The request contains a NUL character, in the body, a parameter or a header.',
    action: 'Remove it: no field of this API takes one.',
  },
  invalid_encoding: {
    meaning: 'The body is not valid UTF-8.',
    action: 'Encode the body as UTF-8.',
  },
  unpaired_surrogate: {
    meaning: 'A string in the body holds half of a UTF-16 surrogate pair (`\\ud800` without its partner).',
    action: 'Send whole characters; most JSON encoders do unless the text was cut in the middle of one.',
  },
  reserved_key: {
    meaning: 'The body uses `__proto__` as a key, which JavaScript objects cannot hold safely.',
    action: 'Rename the key.',
  },
  duplicate_key: {
    meaning: 'An object in the body has the same key twice; parsers disagree on which one wins.',
    action: 'Send each key once per object; `errors` points at the repeat.',
  },
  malformed_request: {
    meaning: 'The request could not be read at all (a broken header, URL or framing).',
    action: 'Check what your HTTP client sends; `detail` says what could not be read.',
  },
  invalid_user_agent: {
    meaning: 'The `User-Agent` header holds a control character (a tab aside) or is over 512 bytes. An absent or empty one is fine.',
    action: 'Send a short product token such as `my-service/1.4`, or no User-Agent at all.',
  },
  invalid_bookmark: {
    meaning:
      'The `Switchyard-Bookmark` request header is not a bookmark this API sent in a response (altered, made up, cut, or signed under a secret no longer configured), or the database could no longer use it. Nothing was done.',
    action:
      'Send the request again without the header, or with the latest `Switchyard-Bookmark` a response gave you. The typed client forgets a refused bookmark on its own.',
  },
  invalid_api_version: {
    meaning:
      'The `Switchyard-Version` request header is not a `YYYY-MM-DD` date naming a released version of this API; `detail` lists the versions there are. Nothing was done.',
    action:
      'Send one of the listed versions, or no header to get the organisation’s default version (`GET /v1/organization`). docs/versioning.md says what each version changed.',
  },
  unauthorized: {
    meaning: 'No API key, or one that is unknown, revoked or expired.',
    action: 'Send `Authorization: Bearer <key>` with an active key. Repeated failures from one address are rate limited.',
  },
  invalid_token: {
    meaning:
      'The connect token is missing, malformed, expired, for another session, or minted by an API key that has since been revoked or has expired.',
    action: 'Mint a new token with `POST /v1/sessions/{id}/tokens` and connect with it.',
  },
  signature_missing: {
    meaning:
      'The organisation requires signed requests (RFC 9421) for this sensitive operation, or the request turns that requirement on, and the request carries no `Signature-Input` and `Signature`. Nothing was done. The response’s `Accept-Signature` says what a signature must cover.',
    action:
      'Sign the request with a signing key registered at `/v1/signing-keys`: give the client `signing: { keyId, privateKey }` and it signs every change (docs/request-signing.md).',
  },
  signature_malformed: {
    meaning:
      '`Signature-Input`, `Signature` or `Content-Digest` is not a valid RFC 8941 dictionary, the two signature fields do not describe the same signature, or a parameter is missing or of the wrong type (`created`, `keyid`, `nonce`; `alg` other than `ed25519`; a nonce that is not 16–128 URL-safe characters). Nothing was done.',
    action: 'Fix the signer; `detail` names what could not be read. The client package signs correctly when given `signing`.',
  },
  signature_component_missing: {
    meaning:
      'The signature does not cover `@method`, `@target-uri`, or, on a request with a body, `content-digest`; or it covers a header the request does not carry. Nothing was done.',
    action: 'Cover `("@method" "@target-uri" "content-digest")` and send the `Content-Digest` of the body.',
  },
  signature_expired: {
    meaning:
      'The signature’s `created` is more than 5 minutes old or more than 1 minute ahead of the server’s clock, or its `expires` has passed. Nothing was done.',
    action: 'Sign the request again just before sending it, and keep the signer’s clock in sync (NTP).',
  },
  signing_key_unknown: {
    meaning: 'The signature’s `keyid` names no signing key of the organisation that is not revoked. Nothing was done.',
    action:
      'Sign with a key listed by `GET /v1/signing-keys`, or register its public key there first (itself a signed request once signing is required).',
  },
  signature_invalid: {
    meaning:
      'The Ed25519 signature does not verify over the request as received: it was made with another key, or the method, URL or signed headers changed after signing (a proxy rewriting the URL does this). Nothing was done.',
    action:
      'Sign the exact URL you send to, with the private key of the `keyid` you name. Behind a proxy that rewrites the host or path, sign the URL the API receives.',
  },
  content_digest_mismatch: {
    meaning: 'The body is not the one the request’s signed `Content-Digest` describes: it changed after signing. Nothing was done.',
    action: 'Compute the digest of the exact bytes you send, then sign; do not re-serialise the body after signing.',
  },
  signature_replayed: {
    meaning:
      'The organisation has already accepted a signature with this `nonce` within the last 5 minutes: the request is a replay, or a retry that reused its signature. Nothing was done by this request.',
    action:
      'Sign every attempt anew, with a fresh nonce (the client package does); to repeat a change safely, resend it signed anew with the same `Idempotency-Key`.',
  },
  origin_not_allowed: {
    meaning: 'A browser opened a session socket from an Origin that is not on the allowlist.',
    action: 'Add the Origin to `CORS_ORIGINS`, or connect from an allowed page.',
  },
  insufficient_scope: {
    meaning: 'The API key is valid but lacks the scope the operation needs, or a scope of the key it acts on.',
    action: 'Use a key with that scope (the operation’s description names it), or create one with `POST /v1/api-keys`.',
  },
  key_outlives_caller: {
    meaning: 'A key cannot be created or rotated to expire later than the key making the request.',
    action: 'Choose an earlier `expires_at`, or use a key that lives longer.',
  },
  not_found: {
    meaning: 'No such resource in your organisation. Another organisation’s resources answer the same way.',
    action: 'Check the id; it may have been deleted.',
  },
  method_not_allowed: {
    meaning: 'The path exists, but not with this HTTP method.',
    action: 'Check the operation in the reference (`/docs`): it lists each path’s methods.',
  },
  payload_too_large: {
    meaning: 'The body, or a message payload, is larger than the operation or the session allows.',
    action: '`detail` gives the limit; send less.',
  },
  precondition_failed: {
    meaning: 'The `If-Match` ETag is not the resource’s current one: it changed since you read it.',
    action: 'Read it again, reapply your change to what you read, and send it with the new ETag.',
  },
  unsupported_media_type: {
    meaning: 'The body is not sent as `application/json`.',
    action: 'Send `Content-Type: application/json`.',
  },
  conflict: {
    meaning: 'The change would break a uniqueness rule (for example a device `external_id` already in use).',
    action: '`errors` names the field; read the existing resource, or choose another value.',
  },
  cannot_revoke_self: {
    meaning: 'An API key cannot revoke itself.',
    action: 'Revoke it with another `keys:admin` key, or rotate it with `grace_period_seconds: 0`.',
  },
  session_ended: {
    meaning: 'The session was ended or reached its `expires_at`: it mints no token and takes no connection or message.',
    action: 'Open a new session.',
  },
  session_full: {
    meaning: 'The session has `max_connections` sockets connected (`max_participants` before API version 2026-12-08).',
    action: 'Wait for one to leave, or open sessions with a higher `max_connections`.',
  },
  participant_not_allowed: {
    meaning:
      'The participant may not join: not a device of the organisation, a disabled or deleted one, one off the session’s allow-list, or one removed from the session.',
    action: 'Enable the device, or mint the token for a participant the session admits.',
  },
  key_already_rotated: {
    meaning: 'The API key was rotated already; a key is rotated once.',
    action: 'Rotate its successor instead.',
  },
  limit_reached: {
    meaning:
      'The organisation has as many objects of this kind as it may (the detail says how many): 20 webhook endpoints, 10 signing keys.',
    action: 'Delete one you no longer need, then create the new one.',
  },
  last_signing_key: {
    meaning:
      'The organisation requires signed requests and the signing key named is its last one that is not revoked: without it, no request could be signed, not even the one that turns the requirement off.',
    action:
      'Register the key that replaces it first, or turn the requirement off (`PUT /v1/organization/request-signing`), then revoke it.',
  },
  no_signing_key: {
    meaning:
      'Signed requests cannot be required: the organisation has no signing key that is not revoked (its last was revoked meanwhile).',
    action: 'Register a signing key at `/v1/signing-keys`, then turn the requirement on with a request signed by it.',
  },
  endpoint_disabled: {
    meaning:
      'The webhook endpoint is disabled (by a request, or after 5 days of failed deliveries): nothing is sent to it, resent or tested.',
    action: 'Enable it (`PATCH` with `enabled: true`), then resend, recover or test.',
  },
  event_not_subscribed: {
    meaning: "The event's type is not among the endpoint's `event_types`: it was never sent there, and is not resent there.",
    action: 'Add the type to the endpoint first, or resend to an endpoint that receives it.',
  },
  export_in_progress: {
    meaning: 'The organisation already has an export queued or running; it may have one at a time.',
    action:
      'Follow that export (`GET /v1/organization/exports`, the newest first page) until it has succeeded or failed, then ask again if you still need to.',
  },
  export_not_ready: {
    meaning: 'The export is still queued or running, or it failed: there is no archive to download.',
    action:
      'Read the export: while `status` is `queued` or `running`, try again later; a `failed` export never has one, so ask for a new export.',
  },
  export_expired: {
    meaning: 'The export succeeded, but its archive was kept 7 days and is deleted (or about to be).',
    action: 'Ask for a new export with `POST /v1/organization/exports`.',
  },
  idempotency_key_in_use: {
    meaning: 'A request with this `Idempotency-Key` is still being processed.',
    action: 'Wait for `Retry-After` and repeat the request with the same key: you then get its result.',
  },
  idempotency_key_reused: {
    meaning: 'This `Idempotency-Key` was used in the last 24 hours with a different request (method, path or body).',
    action: 'Use a new key for a new request; reuse a key only to repeat the same request.',
  },
  idempotency_record_unreadable: {
    meaning: 'The request was made, but the response saved for its `Idempotency-Key` can no longer be read (the storage key changed).',
    action: 'Read the resource to learn the outcome; do not repeat the request under a new key.',
  },
  erasure_not_confirmed: {
    meaning:
      'Erasing the organisation (`DELETE /v1/organization`) needs `confirm` to be `erase ` followed by the organisation’s own id, exactly; it was not. Nothing was changed.',
    action:
      'Only if you mean to delete everything the organisation has, for good: send `{"confirm": "erase org_…"}` with its id (the `org_id` of any of its objects, or `GET /v1/organization`).',
  },
  upgrade_required: {
    meaning: 'The endpoint is a WebSocket; the request did not ask to upgrade.',
    action: 'Open it as a WebSocket (`Upgrade: websocket`), or use the client’s `connectSession`.',
  },
  rate_limited: {
    meaning: 'The API key’s organisation used its requests for this minute (the `RateLimit` headers say how many are left).',
    action: 'Wait for `Retry-After` seconds and repeat; spread requests over the minute.',
  },
  internal_error: {
    meaning: 'The server failed while handling the request.',
    action: 'Repeat it later (with the same `Idempotency-Key` for a change); quote `request_id` when reporting it.',
  },
  service_misconfigured: {
    meaning: 'The deployment is missing a binding, a secret or a migration.',
    action: 'For the operator: the log line with this `request_id` names what is missing.',
  },
  not_ready: {
    meaning: 'The service cannot serve yet: the database does not answer or lacks its migrations.',
    action: 'For the operator: apply the migrations; for a load balancer: keep this instance out of rotation until `/ready` answers 200.',
  },
  service_unavailable: {
    meaning: 'A service the request needs (the database, a session room, the rate limiter) failed.',
    action:
      'Repeat after `Retry-After`, with the same `Idempotency-Key` for a change: `detail` says whether the change may have been made.',
  },
  circuit_open: {
    meaning: 'A service the request needs kept failing, so calls to it are paused for a few seconds.',
    action: 'Repeat after `Retry-After`.',
  },
  timeout: {
    meaning: 'A service the request needs did not answer within the request’s deadline.',
    action:
      'Repeat after `Retry-After`, with the same `Idempotency-Key` for a change: `detail` says whether the change may have been made.',
  },
};
