import { describe, expect, it } from 'vitest';
import { findJsonViolation } from '../../src/lib/json-inspect.ts';

describe('findJsonViolation', () => {
  it('counts containers: {} is depth 1', () => {
    expect(findJsonViolation({}, 1)).toBeUndefined();
    expect(findJsonViolation({ a: {} }, 1)).toEqual({ kind: 'too_deep', pointer: '/a' });
    expect(findJsonViolation([[1]], 2)).toBeUndefined();
    expect(findJsonViolation([[[1]]], 2)).toEqual({ kind: 'too_deep', pointer: '/0/0' });
  });

  it('scalars at the top level have no depth', () => {
    expect(findJsonViolation('text', 0)).toBeUndefined();
    expect(findJsonViolation(42, 0)).toBeUndefined();
  });

  it('finds NUL in values and keys, with an RFC 6901 pointer', () => {
    expect(findJsonViolation({ 'a/b': { 'c~d': 'x\u0000' } }, 10)).toEqual({ kind: 'nul', pointer: '/a~1b/c~0d' });
    expect(findJsonViolation(JSON.parse('{"k\\u0000": 1}'), 10)).toEqual({ kind: 'nul', pointer: '/k\u0000' });
    expect(findJsonViolation(['ok', 'n\u0000'], 10)).toEqual({ kind: 'nul', pointer: '/1' });
  });
});
