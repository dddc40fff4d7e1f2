/**
 * One close-code table (issue 13 §6, §8): the constant in src/schemas/realtime.ts is what the spec
 * and the README show, word for word, and every code the room closes with is in it.
 */
import { describe, expect, it } from 'vitest';
import spec from '../../openapi/openapi.json';
import readme from '../../README.md?raw';
import { CLOSE_CODE_TABLE, CLOSE_CODES, closeCodeTable, FINAL_CLOSE_CODES } from '../../src/schemas/realtime.ts';

const connect = spec.paths['/v1/sessions/{id}/connect'].get as unknown as {
  description: string;
  'x-websocket': { closeCodes: unknown };
};

describe('the close-code table', () => {
  it('is in the spec: the connect operation describes it and carries it as x-websocket.closeCodes', () => {
    expect(connect.description).toContain(closeCodeTable());
    expect(connect['x-websocket'].closeCodes).toEqual(CLOSE_CODE_TABLE);
  });

  it('is in the README, as generated', () => {
    expect(readme).toContain(closeCodeTable());
  });

  it('lists every code the server closes with, and says which ones are final', () => {
    const listed = new Set<number>(CLOSE_CODE_TABLE.map((row) => row.code));
    for (const code of Object.values(CLOSE_CODES)) expect(listed.has(code)).toBe(true);
    expect(FINAL_CLOSE_CODES).toEqual([1000, 4000, 4001, 4003, 4010]);
  });
});
