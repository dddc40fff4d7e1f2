/**
 * @module
 * Reading the signing key a request names: 404 when it is not the organisation's, or is revoked.
 */
import * as signingKeys from '../../db/signing-keys.ts';
import { notFound } from '../../errors.ts';

export async function loadSigningKey(db: D1Database, orgId: string, id: string): Promise<signingKeys.SigningKeyRecord> {
  const key = await signingKeys.getSigningKey(db, orgId, id);
  if (!key) throw notFound('signing key', id);
  return key;
}
