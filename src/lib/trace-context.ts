/**
 * @module
 * W3C Trace Context (`traceparent`, version 00): continue the caller's trace or start one.
 */
import { toHex } from './encoding.ts';

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

export interface TraceContext {
  traceId: string;
  spanId: string;
  flags: string;
}

function randomHex(bytes: number): string {
  return toHex(crypto.getRandomValues(new Uint8Array(bytes)));
}

/**
 * Parses a `traceparent` header. Returns undefined when it is absent or invalid, as the spec asks:
 * version ff, all-zero ids, upper-case hex, or extra fields on version 00.
 */
export function parseTraceparent(header: string | undefined): TraceContext | undefined {
  if (!header) return undefined;
  const match = TRACEPARENT.exec(header.trim());
  if (!match) return undefined;
  const [, version, traceId, parentId, flags, rest] = match;
  if (!version || !traceId || !parentId || !flags) return undefined;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return undefined;
  return { traceId, spanId: parentId, flags };
}

/** The context for this request: the caller's trace id and flags with a new span id, or a new trace. */
export function continueOrStartTrace(header: string | undefined): TraceContext {
  const parent = parseTraceparent(header);
  return {
    traceId: parent?.traceId ?? randomHex(16),
    spanId: randomHex(8),
    flags: parent?.flags ?? '00',
  };
}

export function formatTraceparent(context: TraceContext): string {
  return `00-${context.traceId}-${context.spanId}-${context.flags}`;
}
