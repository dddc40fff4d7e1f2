/**
 * @module
 * Reading the API key a request names: 404 when it is not the organisation's, or is revoked.
 */
import * as apiKeys from '../../db/api-keys.ts';
import { notFound } from '../../errors.ts';

export async function loadApiKey(db: D1Database, orgId: string, id: string): Promise<apiKeys.ApiKeyRecord> {
  const key = await apiKeys.getApiKey(db, orgId, id);
  if (!key) throw notFound('API key', id);
  return key;
}
