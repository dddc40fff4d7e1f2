/**
 * @module
 * Opaque pagination cursors: the position after the last row of a page (its creation time and
 * id), bound to the organisation and the list it came from. A cursor that is not one we issued
 * for this organisation and list decodes to nothing (routes/pagination.ts answers it with a 400),
 * never to an SQL error or another tenant's rows.
 */
import { z } from 'zod';
import { base64UrlDecode, base64UrlEncode } from './encoding.ts';

const CursorSchema = z
  .object({
    v: z.literal(1),
    o: z.string().min(1).max(64),
    l: z.string().min(1).max(32),
    t: z.iso.datetime(),
    i: z.string().min(1).max(64),
  })
  .strict();

export interface CursorPosition {
  createdAt: string;
  id: string;
}

export function encodeCursor(orgId: string, list: string, position: CursorPosition): string {
  return base64UrlEncode(JSON.stringify({ v: 1, o: orgId, l: list, t: position.createdAt, i: position.id }));
}

/** The position `cursor` names, or undefined when it is not one issued for this organisation and list. */
export function decodeCursor(cursor: string, orgId: string, list: string): CursorPosition | undefined {
  const text = base64UrlDecode(cursor);
  let parsed: z.infer<typeof CursorSchema> | undefined;
  try {
    parsed = text === undefined ? undefined : CursorSchema.parse(JSON.parse(text));
  } catch {
    parsed = undefined;
  }
  if (!parsed || parsed.o !== orgId || parsed.l !== list) return undefined;
  return { createdAt: parsed.t, id: parsed.i };
}

/** The `next_cursor` of a page: after its last item when more rows follow, else null. */
export function nextCursor(orgId: string, list: string, page: ReadonlyArray<CursorPosition>, hasMore: boolean): string | null {
  const last = page.at(-1);
  return hasMore && last ? encodeCursor(orgId, list, { createdAt: last.createdAt, id: last.id }) : null;
}
