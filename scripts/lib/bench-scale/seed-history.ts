/**
 * Session history lives in each SessionRoom's own SQLite storage (its `messages` table,
 * src/durable-objects/session-room.ts), not in D1, and the Worker's only way to add to it is to
 * publish: a million publishes would take longer than the whole run. So the harness writes the rows
 * into the room's storage file itself, while the runtime is stopped: Miniflare keeps each SQLite
 * Durable Object in `<state>/do/<worker>-SessionRoom/<object id>.sqlite`, a plain SQLite database
 * (WAL mode). The room must exist first (a history read creates its tables and records its
 * session's settings, by which its file is found here); when the runtime starts again, the room
 * wakes with the seeded rows and takes its sequence from them, as after any restart.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';

/** What one seeded room holds: `messages` rows with seq 1 … messages. */
export interface HistorySeed {
  sessionId: string;
  messages: number;
}

/** node:sqlite still prints an ExperimentalWarning when loaded; it is noise in the bench's output. */
async function loadSqlite(): Promise<typeof import('node:sqlite')> {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (String(warning).includes('SQLite')) return;
    (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return await import('node:sqlite');
  } finally {
    process.emitWarning = emitWarning;
  }
}

function sessionIdOf(room: DatabaseSync): string | undefined {
  const row = room.prepare("SELECT value FROM meta WHERE key = 'settings'").get() as { value: string } | undefined;
  return row ? ((JSON.parse(row.value) as { sessionId?: string }).sessionId ?? undefined) : undefined;
}

/**
 * Messages 1 … n as the room's `broadcast` stores them: a `message` from one client with its id,
 * its payload as JSON text, and times a millisecond apart ending now (well within any plan's age limit).
 */
function insertMessages(room: DatabaseSync, messages: number): void {
  room.exec('BEGIN');
  room.exec('DELETE FROM messages');
  room
    .prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < CAST(?1 AS INTEGER))
       INSERT INTO messages (seq, type, sender, client_id, payload, ts)
       SELECT i, 'message', 'client:bench-publisher', 'bench-' || i, json_object('n', i),
              strftime('%Y-%m-%dT%H:%M:%fZ', (?2 - (?1 - i)) / 1000.0, 'unixepoch')
         FROM n`,
    )
    .run(messages, Date.now());
  room.exec('COMMIT');
}

/** Writes each seed's messages into its room's storage file under `stateDir` (the runtime must be stopped). */
export async function seedRoomHistories(stateDir: string, workerName: string, seeds: readonly HistorySeed[]): Promise<void> {
  const { DatabaseSync } = await loadSqlite();
  const directory = join(stateDir, 'do', `${workerName}-SessionRoom`);
  const wanted = new Map(seeds.map((seed) => [seed.sessionId, seed.messages]));
  for (const file of readdirSync(directory).filter((name) => name.endsWith('.sqlite') && name !== 'metadata.sqlite')) {
    const room = new DatabaseSync(join(directory, file));
    try {
      const sessionId = sessionIdOf(room);
      const messages = sessionId === undefined ? undefined : wanted.get(sessionId);
      if (sessionId === undefined || messages === undefined) continue;
      insertMessages(room, messages);
      wanted.delete(sessionId);
    } finally {
      room.close();
    }
  }
  if (wanted.size > 0) throw new Error(`no room storage found for session ${[...wanted.keys()].join(', ')} under ${directory}`);
}
