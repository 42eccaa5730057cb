/**
 * The echo table's wskit/ws columns: its rate, its ratio to ws against the
 * issue's targets, and its ratio to native wskit; and which rows carry a
 * target. The h2 table: HTTP/2 streams beside HTTP/1.1 connections. The
 * memory table: each server's cost above the floor as a fraction of ws's.
 * The fan-out CPU table: CPU per delivery at the target's rate beside the
 * broadcast floor.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseOptions } from '../options.js';
import { echoTable, fanoutCpuTable, http2Table, memoryTable } from '../report.js';
import type { FanoutSample, Trial } from '../suites/fanout.js';
import type { MemorySample } from '../suites/memory.js';
import { HTTP2_ROW } from '../suites/http2.js';
import { compatTarget, echoRows, type EchoResult, type EchoRow, type Impl, type Sample } from '../suites/echo.js';

function sample(msgsPerSec: number): Sample {
  return { msgsPerSec, mbPerSec: msgsPerSec / 1e6, p50us: 100, p99us: 200, serverCpu: 100, cpuUsPerMsg: 10, genCpu: 50, otherCpu: 0, errors: 0 };
}

function result(row: EchoRow, rates: Partial<Record<Impl, number>>): EchoResult {
  const samples: EchoResult['samples'] = {};
  for (const [impl, rate] of Object.entries(rates) as [Impl, number][]) samples[impl] = [sample(rate)];
  return { row, samples };
}

function cells(markdown: string): Record<string, string>[] {
  const [header, , ...rows] = markdown.split('\n').map((line) => line.split('|').slice(1, -1).map((c) => c.trim()));
  return rows.map((row) => Object.fromEntries(header!.map((name, i) => [name, row[i]!])));
}

const rowsById = new Map(echoRows(parseOptions([], {}), false).map((row) => [row.id, row]));
const row = (id: string) => rowsById.get(id)!;

test('compatTarget asks 1.3× on pipelined small rows, 1.5× on large rows, nothing elsewhere', () => {
  assert.equal(compatTarget(row('32B x50 pipe16')), 1.3);
  assert.equal(compatTarget(row('1KiB x1 pipe16')), 1.3);
  assert.equal(compatTarget(row('32B x1 closed')), undefined);
  assert.equal(compatTarget(row('64KiB x1 closed')), 1.5);
  assert.equal(compatTarget(row('1MiB x50 pipe16 (depth 1)')), 1.5);
  assert.equal(compatTarget({ ...row('64KiB x1 closed'), deflate: true }), undefined);
});

test('echoTable shows wskit/ws msg/s, its ratio to ws with the target met or missed, and its ratio to wskit', () => {
  const table = cells(echoTable([
    result(row('32B x50 pipe16'), { wskit: 200_000, 'wskit/ws': 150_000, ws: 100_000, tcp: 210_000 }),
    result(row('64KiB x1 closed'), { wskit: 8_000, 'wskit/ws': 4_000, ws: 3_000, tcp: 9_000 }),
    result(row('32B x1 closed'), { wskit: 14_000, 'wskit/ws': 13_000, ws: 14_000, tcp: 15_000 }),
  ], true, 1));
  assert.equal(table[0]!['wskit/ws msg/s'], '150,000');
  assert.equal(table[0]!['wskit/ws ÷ ws (target)'], '1.50× (≥ 1.3× ✓)');
  assert.equal(table[0]!['wskit/ws ÷ wskit'], '0.75×');
  assert.equal(table[0]!['wskit ÷ ws'], '2.00×');
  assert.equal(table[1]!['wskit/ws ÷ ws (target)'], '1.33× (≥ 1.5× ✗)');
  assert.equal(table[2]!['wskit/ws ÷ ws (target)'], '0.93×');
  assert.equal(table[0]!['CPU % srv/gen wskit/ws'], '100/50');
});

test('echoTable leaves the wskit/ws columns out when no row measured it', () => {
  const markdown = echoTable([result(row('32B x1 closed'), { wskit: 14_000, ws: 14_000 })], false, 1);
  assert.doesNotMatch(markdown.split('\n')[0]!, /wskit\/ws/);
});

test('http2Table shows h2 and h1 side by side, the ratio, and one TCP connection per worker against one per WebSocket', () => {
  const [line] = cells(http2Table({ row: HTTP2_ROW, samples: { h2: [sample(30_000), sample(36_000), sample(33_000)], h1: [sample(20_000)] } }, 1));
  assert.equal(line!.row, '1KiB x50 closed');
  assert.equal(line!['TCP connections h2 / h1'], '1 / 50');
  assert.equal(line!['h2 msg/s'], '33,000');
  assert.equal(line!['h1 msg/s'], '20,000');
  assert.equal(line!['h2 ÷ h1'], '1.65×');
});

test('--only http2 runs the h2 row alone', () => {
  assert.deepEqual(parseOptions(['--only', 'http2'], {}).sections, ['http2']);
});

function memory(kib: number, settledKib = kib): MemorySample {
  const b = kib * 1024;
  return { conns: 1000, rssPerConn: b, keptRssPerConn: b, heapPerConn: b, externalPerConn: 0, keptRssAfterEchoPerConn: b, heapAfterEchoPerConn: b, settledRssPerConn: settledKib * 1024 };
}

test('memoryTable shows what wskit and wskit serve add above the floor as a fraction of what ws adds, serve on the no-GC row only', () => {
  const nan = { ...memory(0), rssPerConn: NaN, keptRssPerConn: NaN, heapPerConn: NaN, externalPerConn: NaN, keptRssAfterEchoPerConn: NaN, heapAfterEchoPerConn: NaN };
  const rows = cells(memoryTable({ conns: 1000, note: '', samples: { wskit: [memory(2)], 'wskit-on-message': [memory(1.5)], ws: [memory(3)], floor: [memory(1)], serve: [{ ...nan, settledRssPerConn: 5 * 1024 }] } }));
  const heap = rows.find((r) => r['per idle connection'] === 'JS heap')!;
  assert.equal(heap['wskit above floor ÷ ws above floor'], '0.50×');
  assert.equal(heap['onMessage above floor ÷ ws above floor'], '0.25×');
  assert.equal(heap['wskit serve /echo KiB'], '–');
  const settled = rows.find((r) => r['per idle connection']!.startsWith('RSS 3 s after the storm'))!;
  assert.equal(settled['wskit serve /echo KiB'], '5');
  assert.equal(settled['serve above floor ÷ ws above floor'], '2.00×');
});

function trial(rate: number, cpuUsPerDelivery: number, pass = true): Trial {
  return { rate, sent: rate, delivered: rate * 10, expected: rate * 10, repeats: 0, p50ms: 1, p99ms: 2, deliveriesPerSec: rate * 10, serverCpu: 10, cpuUsPerDelivery, genCpu: 10, otherCpu: 0, pass };
}

function search(...trials: Trial[]): FanoutSample {
  return { best: trials.filter((t) => t.pass).at(-1), trials };
}

test('fanoutCpuTable reads each search at 100 msg/s and sets wskit and ws against the floor', () => {
  const [line] = cells(fanoutCpuTable({
    clients: 1000,
    wskitLabel: 'wskit',
    // The first search failed at 100 msg/s once: its passing retry is the one read.
    samples: { wskit: [search(trial(50, 9), trial(100, 20, false), trial(100, 4), trial(200, 3)), search(trial(100, 4.4))], ws: [search(trial(100, 7)), search(trial(100, 7))] },
    floor: [trial(100, 2), trial(100, 2)],
  }));
  assert.equal(line!.wskit, '4.20');
  assert.equal(line!.floor, '2.00');
  assert.equal(line!['wskit ÷ ws (target ≤ 0.7×)'], '0.60× ✓');
  assert.equal(line!['floor ÷ ws'], '0.29×');
  assert.equal(line!['(wskit − floor) ÷ (ws − floor)'], '0.44×');
  assert.equal(line!['each round: wskit; ws; floor'], '4.00 4.40; 7.00 7.00; 2.00 2.00');
});

test('fanoutCpuTable shows – for a server whose search never tried 100 msg/s, and ✗ over the target', () => {
  const [line] = cells(fanoutCpuTable({ clients: 1000, wskitLabel: 'wskit', samples: { wskit: [search(trial(200, 3))], ws: [search(trial(100, 6))] }, floor: [trial(100, 5)] }));
  assert.equal(line!.wskit, '–');
  assert.equal(line!['wskit ÷ ws (target ≤ 0.7×)'], '–');
  assert.equal(line!['floor ÷ ws'], '0.83×');
  const [over] = cells(fanoutCpuTable({ clients: 1000, wskitLabel: 'wskit', samples: { wskit: [search(trial(100, 5))], ws: [search(trial(100, 6))] }, floor: [trial(100, 5)] }));
  assert.equal(over!['wskit ÷ ws (target ≤ 0.7×)'], '0.83× ✗');
});
