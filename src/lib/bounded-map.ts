/**
 * @module
 * Per-isolate memory that cannot grow without bound: an isolate lives for many requests, and a
 * map keyed by something a client chooses (a key, an IP) would otherwise grow with every new one.
 */

/**
 * Sets `key` as the newest entry, first dropping the oldest when the map holds `max` entries. A
 * Map iterates in insertion order, so re-inserting on every write keeps the oldest entry first.
 */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  if (map.size >= max) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}
