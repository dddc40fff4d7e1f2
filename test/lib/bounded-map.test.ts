import { describe, expect, it } from 'vitest';
import { setBounded } from '../../src/lib/bounded-map.ts';

describe('setBounded', () => {
  it('never holds more than its bound, dropping the entry written longest ago', () => {
    const map = new Map<string, number>();
    for (let index = 0; index < 10; index += 1) setBounded(map, `k${index}`, index, 3);
    expect([...map.keys()]).toEqual(['k7', 'k8', 'k9']);
  });

  it('a rewritten entry becomes the newest, so it outlives entries written after its first write', () => {
    const map = new Map<string, number>();
    setBounded(map, 'a', 1, 2);
    setBounded(map, 'b', 2, 2);
    setBounded(map, 'a', 3, 2);
    setBounded(map, 'c', 4, 2);
    expect(Object.fromEntries(map)).toEqual({ a: 3, c: 4 });
  });
});
