/**
 * @module
 * How a request's User-Agent stands. A missing or empty one is allowed (machine clients often send
 * none) but logged; a malformed one is refused: control characters have no place in a product
 * token (RFC 9110 §10.1.5) and only serve to break or forge log lines, and nothing legitimate sends
 * half a kilobyte of them.
 */

/** The longest User-Agent accepted, in bytes (header values are bytes: one per character here). */
export const MAX_USER_AGENT_BYTES = 512;

export type UserAgentState = 'present' | 'missing' | 'empty' | 'malformed';

// C0 controls but horizontal tab (which RFC 9110 allows as whitespace), and DEL.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL_CHARACTER = /[\u0000-\u0008\u000a-\u001f\u007f]/;

export function userAgentState(value: string | undefined): UserAgentState {
  if (value === undefined) return 'missing';
  if (value.trim() === '') return 'empty';
  if (value.length > MAX_USER_AGENT_BYTES || CONTROL_CHARACTER.test(value)) return 'malformed';
  return 'present';
}
