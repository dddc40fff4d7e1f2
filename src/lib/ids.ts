/**
 * @module
 * Resource ids: a type prefix and 22 random base62 characters (≈131 bits), opaque to clients.
 */
import { randomBase62 } from './encoding.ts';

export const ID_PREFIXES = {
  organization: 'org',
  apiKey: 'key',
  auditEvent: 'evt',
  device: 'dev',
  session: 'ses',
  tokenId: 'tok',
  webhookEndpoint: 'whe',
  event: 'msg',
  webhookDelivery: 'whd',
  webhookAttempt: 'wha',
  signingKey: 'sig',
  organizationExport: 'exp',
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

const ID_BODY_LENGTH = 22;

export function newId(kind: IdKind): string {
  return `${ID_PREFIXES[kind]}_${randomBase62(ID_BODY_LENGTH)}`;
}

/** The pattern an id of `kind` matches, for schemas. */
export function idPattern(kind: IdKind): RegExp {
  return new RegExp(`^${ID_PREFIXES[kind]}_[0-9A-Za-z]{${ID_BODY_LENGTH}}$`);
}
