/**
 * Reading V8 heap snapshots (`.heapsnapshot`, the format `node:v8` and
 * `--heapsnapshot-signal` write) into totals by constructor, and diffing two
 * of them: what `bench/memprobe.ts` prints per idle connection.
 */
import { readFileSync } from 'node:fs';

/** HeapTotals maps a group name (a constructor, a closure's function, or a V8 kind in parentheses) to its object count and self size in bytes. */
export type HeapTotals = Map<string, { count: number; bytes: number }>;

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/**
 * groupOf names the group of one node: objects by constructor, closures by
 * function name with "()", natives and hidden objects by kind and name,
 * strings and code by kind alone (their names are their contents).
 */
function groupOf(type: string, name: string): string {
  switch (type) {
    case 'object':
      return name;
    case 'closure':
      return `${name || '(anonymous)'}()`;
    case 'string':
    case 'concatenated string':
    case 'sliced string':
    case 'code':
    case 'number':
    case 'bigint':
      return `(${type})`;
    default:
      return `(${type}) ${name}`;
  }
}

/** readHeapTotals parses the snapshot at `path` and sums every node's self size by group. */
export function readHeapTotals(path: string): HeapTotals {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const totals: HeapTotals = new Map();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const group = groupOf(types[snap.nodes[i + typeAt]!]!, snap.strings[snap.nodes[i + nameAt]!]!);
    const entry = totals.get(group);
    if (entry) {
      entry.count++;
      entry.bytes += snap.nodes[i + sizeAt]!;
    } else {
      totals.set(group, { count: 1, bytes: snap.nodes[i + sizeAt]! });
    }
  }
  return totals;
}

/** HeapGrowth is one group's growth between two snapshots, per connection. */
export interface HeapGrowth {
  group: string;
  countPerConn: number;
  bytesPerConn: number;
}

/** diffHeapTotals returns what grew from `before` to `after`, divided by `conns`, largest first; `total` sums every group (shrinking ones too). */
export function diffHeapTotals(before: HeapTotals, after: HeapTotals, conns: number): { rows: HeapGrowth[]; total: number } {
  const rows: HeapGrowth[] = [];
  let total = 0;
  for (const [group, a] of after) {
    const b = before.get(group) ?? { count: 0, bytes: 0 };
    total += a.bytes - b.bytes;
    rows.push({ group, countPerConn: (a.count - b.count) / conns, bytesPerConn: (a.bytes - b.bytes) / conns });
  }
  for (const [group, b] of before) if (!after.has(group)) total -= b.bytes;
  rows.sort((x, y) => y.bytesPerConn - x.bytesPerConn);
  return { rows, total: total / conns };
}
