import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Conn } from 'wskit';
import { IdleSweep } from '../src/idle-sweep.js';

/** A stand-in with the two members IdleSweep uses, recording when it is closed. */
function fakeConn(address: string): Conn & { closedAt: number | null; code: number | null; reason: string | null } {
  const conn = {
    remoteAddress: address,
    closedAt: null as number | null,
    code: null as number | null,
    reason: null as string | null,
    close(code: number, reason: string) {
      conn.closedAt = Date.now();
      conn.code = code;
      conn.reason = reason;
      return Promise.resolve();
    },
  };
  return conn as unknown as Conn & typeof conn;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('IdleSweep closes an untouched connection with 1000 "idle timeout" after between idleMs and 1.25 × idleMs', async () => {
  const lines: string[] = [];
  const sweep = new IdleSweep(200, (l) => lines.push(l), 'echo');
  const conn = fakeConn('127.0.0.1:1');
  const started = Date.now();
  sweep.watch(conn);
  await wait(400);
  assert.equal(conn.code, 1000);
  assert.equal(conn.reason, 'idle timeout');
  const after = conn.closedAt! - started;
  assert.ok(after >= 195 && after <= 330, `closed after ${after} ms`);
  assert.deepEqual(lines, ['echo: 127.0.0.1:1 idle for 200 ms, closing']);
});

test('IdleSweep keeps a touched connection open and forgets a stopped one', async () => {
  const sweep = new IdleSweep(200, () => {}, 'echo');
  const busy = fakeConn('127.0.0.1:2');
  const stopped = fakeConn('127.0.0.1:3');
  sweep.watch(busy);
  sweep.watch(stopped);
  sweep.stop(stopped);
  for (let i = 0; i < 8; i++) {
    await wait(50);
    sweep.touch(busy);
  }
  assert.equal(busy.closedAt, null);
  assert.equal(stopped.closedAt, null);
  sweep.stop(busy);
});

test('IdleSweep does not start watching a connection on touch', async () => {
  const sweep = new IdleSweep(100, () => {}, 'add');
  const stranger = fakeConn('127.0.0.1:4');
  sweep.touch(stranger);
  await wait(250);
  assert.equal(stranger.closedAt, null);
});

test('IdleSweep rejects an idle time that is not positive with RangeError', () => {
  assert.throws(() => new IdleSweep(0, () => {}, 'echo'), RangeError);
});
