/**
 * docs/data.md is the data inventory: every column of every D1 table (as the migrations leave the
 * test database) and of every SessionRoom SQLite table (as a room creates them) is listed there with
 * whether it holds personal data, and each store states its retention, readers, export and erasure.
 * A migration that adds a column fails here until the inventory describes it; a column removed
 * fails until its line goes.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import inventoryText from '../../docs/data.md?raw';

const PERSONAL_DATA = ['yes', 'pseudonymous', 'no'] as const;
const STORE_LINES = ['Retention', 'Readers', 'Export', 'Erasure'] as const;
const ROOM_PREFIX = 'SessionRoom.';

interface InventoryStore {
  columns: Map<string, string>;
  lines: Set<string>;
}

/** Each `### \`store\`` section of the inventory: its columns' personal-data marks and its `- Label:` lines. */
function parseInventory(text: string): Map<string, InventoryStore> {
  const stores = new Map<string, InventoryStore>();
  let current: InventoryStore | undefined;
  for (const line of text.split('\n')) {
    const heading = /^### `([^`]+)`$/.exec(line);
    if (heading?.[1] !== undefined) {
      current = { columns: new Map(), lines: new Set() };
      stores.set(heading[1], current);
      continue;
    }
    if (line.startsWith('## ')) current = undefined;
    if (current === undefined) continue;
    const label = /^- ([A-Za-z]+): \S/.exec(line);
    if (label?.[1] !== undefined) current.lines.add(label[1]);
    const row = /^\| `([^`]+)` \| ([a-z]+) \| \S/.exec(line);
    if (row?.[1] !== undefined && row[2] !== undefined) current.columns.set(row[1], row[2]);
  }
  return stores;
}

/**
 * The tables the migrations made, and their columns. Left out: SQLite's own tables, D1's internal
 * `_cf_*` tables and `d1_migrations`, the migration runner's bookkeeping.
 */
async function d1Columns(): Promise<Map<string, string[]>> {
  const { results } = await env.DB.prepare(
    `SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m, pragma_table_info(m.name) p
      WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND m.name NOT LIKE '\\_cf\\_%' ESCAPE '\\'
        AND m.name <> 'd1_migrations'
      ORDER BY m.name, p.cid`,
  ).all<{ table_name: string; column_name: string }>();
  return groupColumns(results.map((row) => [row.table_name, row.column_name]));
}

/** The tables a SessionRoom makes in its SQLite storage (its constructor creates them all). */
async function roomColumns(): Promise<Map<string, string[]>> {
  const stub = env.SESSION_ROOM.get(env.SESSION_ROOM.idFromName('data-inventory'));
  const rows = await runInDurableObject(stub, (_room, state) =>
    state.storage.sql
      .exec<{ table_name: string; column_name: string }>(
        `SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m, pragma_table_info(m.name) p
          WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND m.name NOT LIKE '\\_cf\\_%' ESCAPE '\\'
          ORDER BY m.name, p.cid`,
      )
      .toArray(),
  );
  return groupColumns(rows.map((row) => [`${ROOM_PREFIX}${row.table_name}`, row.column_name]));
}

function groupColumns(pairs: Array<[string, string]>): Map<string, string[]> {
  const tables = new Map<string, string[]>();
  for (const [table, column] of pairs) tables.set(table, [...(tables.get(table) ?? []), column]);
  return tables;
}

const inventory = parseInventory(inventoryText);

describe('the data inventory (docs/data.md)', () => {
  it('lists exactly the stores there are, each column of each, and nothing that is gone', async () => {
    const actual = new Map([...(await d1Columns()), ...(await roomColumns())]);
    expect(actual.size).toBeGreaterThan(10);
    expect([...inventory.keys()].sort()).toEqual([...actual.keys()].sort());
    for (const [store, columns] of actual) {
      const documented = [...(inventory.get(store)?.columns.keys() ?? [])];
      expect(documented.sort(), `docs/data.md, ${store}`).toEqual([...columns].sort());
    }
  });

  it('marks every column yes, pseudonymous or no, and gives every store its retention, readers, export and erasure', () => {
    for (const [store, { columns, lines }] of inventory) {
      for (const [column, mark] of columns) expect(PERSONAL_DATA, `${store}.${column}`).toContain(mark);
      for (const label of STORE_LINES) expect([...lines], `${store}: its "- ${label}:" line`).toContain(label);
    }
  });

  it('counts free text the customer writes as personal data', () => {
    const freeText = [
      ['devices', 'name'],
      ['devices', 'metadata'],
      ['api_keys', 'name'],
      ['webhook_endpoints', 'description'],
      ['events', 'data'],
      ['SessionRoom.messages', 'payload'],
      ['audit_events', 'user_agent'],
    ] as const;
    for (const [store, column] of freeText) expect(inventory.get(store)?.columns.get(column), `${store}.${column}`).toBe('yes');
  });
});
