import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fuzzRuns } from 'wskit-testing/bytes';
import { compareIds } from '../../src/chat/broker.js';
import { HoldQueue, holdEntry, idBefore, type HoldEntry } from '../../src/chat/hold-queue.js';

const message = (n: number, held = true): HoldEntry<string> => ({ kind: 'message', id: `${n}-0`, held, value: `m${n}` });
const commit = (n: number, upTo: number): HoldEntry<string> => ({ kind: 'commit', id: `${n}-0`, upTo: `${upTo}-0` });
const abort = (n: number, target: number): HoldEntry<string> => ({ kind: 'abort', id: `${n}-0`, target: `${target}-0` });

/** Feeds every entry and returns what was released, in order. */
function feed(entries: HoldEntry<string>[]): string[] {
  const queue = new HoldQueue<string>();
  return entries.flatMap((entry) => queue.accept(entry, 0));
}

describe('HoldQueue', () => {
  it('HoldQueue releases a held message only when a commit covers it', () => {
    const queue = new HoldQueue<string>();
    assert.deepEqual(queue.accept(message(1), 0), []);
    assert.deepEqual(queue.accept({ kind: 'probe', id: '2-0' }, 0), []);
    assert.deepEqual(queue.accept(commit(3, 1), 0), ['m1']);
    assert.equal(queue.size, 0);
  });

  it('HoldQueue lets a later publisher\'s commit release an earlier publisher\'s message, in stream order', () => {
    // Replication is in order: a WAIT that confirmed message 2 confirmed message 1 too.
    assert.deepEqual(feed([message(1), message(2), commit(3, 2), commit(4, 1)]), ['m1', 'm2']);
  });

  it('HoldQueue keeps a confirmed message behind an undecided earlier one', () => {
    const queue = new HoldQueue<string>();
    queue.accept(message(1), 0);
    queue.accept(message(2, false), 0);
    assert.equal(queue.firstWaiting, '1-0');
    assert.deepEqual(queue.accept(abort(3, 1), 0), ['m2']);
  });

  it('HoldQueue drops an aborted message and releases the rest', () => {
    assert.deepEqual(feed([message(1), message(2), abort(3, 1), commit(4, 2)]), ['m2']);
  });

  it('HoldQueue passes a plain message at once when nothing waits', () => {
    assert.deepEqual(new HoldQueue<string>().accept(message(1, false), 0), ['m1']);
  });

  it('HoldQueue reports when its oldest held message arrived', () => {
    const queue = new HoldQueue<string>();
    queue.accept(message(1, false), 5);
    queue.accept(message(2), 7);
    queue.accept(message(3), 9);
    assert.equal(queue.oldestHeldAt, 7);
    queue.accept(commit(4, 2), 10);
    assert.equal(queue.oldestHeldAt, 9);
  });

  it('holdEntry reads the kinds of entries from their first field', () => {
    assert.deepEqual(holdEntry('1-0', ['from', 'a', 'text', 't'], 'v'), { kind: 'message', id: '1-0', held: false, value: 'v' });
    assert.deepEqual(holdEntry('1-0', ['hold', '1', 'from', 'a'], 'v'), { kind: 'message', id: '1-0', held: true, value: 'v' });
    assert.deepEqual(holdEntry('2-0', ['commit', '1-0'], 'v'), { kind: 'commit', id: '2-0', upTo: '1-0' });
    assert.deepEqual(holdEntry('3-0', ['abort', '1-0'], 'v'), { kind: 'abort', id: '3-0', target: '1-0' });
    assert.deepEqual(holdEntry('4-0', ['probe', '1'], 'v'), { kind: 'probe', id: '4-0' });
  });

  it('idBefore gives an id just below, so that a listener after it gets the id itself', () => {
    for (const id of ['5-3', '5-0', '1-0', '1718000000000-0', '0-1']) {
      const before = idBefore(id);
      assert.ok(compareIds(before, id) < 0, `${before} < ${id}`);
    }
    assert.equal(idBefore('5-3'), '5-2');
    assert.ok(compareIds(idBefore('5-0'), '4-999999') > 0);
  });

  it('HoldQueue releases exactly the committed messages, in stream order, for any interleaving of publishers', () => {
    // A stream as publishers write it: messages (held, or plain from a node
    // without replicas), commits up to any message written so far, aborts of
    // held messages no commit covers yet (the abort script refuses the others), probes.
    const action = fc.oneof(
      { arbitrary: fc.record({ kind: fc.constant('publish' as const), held: fc.boolean() }), weight: 4 },
      { arbitrary: fc.record({ kind: fc.constant('commit' as const), pick: fc.nat() }), weight: 2 },
      { arbitrary: fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }), weight: 1 },
      { arbitrary: fc.record({ kind: fc.constant('probe' as const) }), weight: 1 },
    );
    fc.assert(
      fc.property(fc.array(action, { maxLength: 60 }), (actions) => {
        const entries: HoldEntry<string>[] = [];
        const messages: { n: number; held: boolean }[] = [];
        const aborted = new Set<number>();
        let frontier = 0;
        let n = 0;
        for (const act of actions) {
          n++;
          if (act.kind === 'publish') {
            messages.push({ n, held: act.held });
            entries.push(message(n, act.held));
          } else if (act.kind === 'commit' && messages.length > 0) {
            const upTo = messages[act.pick % messages.length]!.n;
            entries.push(commit(n, upTo));
            frontier = Math.max(frontier, upTo);
          } else if (act.kind === 'abort') {
            const open = messages.filter((m) => m.held && !aborted.has(m.n) && m.n > frontier);
            if (open.length === 0) continue;
            const target = open[act.pick % open.length]!.n;
            aborted.add(target);
            entries.push(abort(n, target));
          } else {
            entries.push({ kind: 'probe', id: `${n}-0` });
          }
        }
        // The model: in stream order, skip aborted messages, show confirmed
        // ones, and stop at the first undecided one (order is kept).
        const expected: string[] = [];
        for (const m of messages) {
          if (aborted.has(m.n)) continue;
          if (m.held && m.n > frontier) break;
          expected.push(`m${m.n}`);
        }
        // And at the moment of each release, a commit covering it had been seen.
        const queue = new HoldQueue<string>();
        const released: string[] = [];
        for (const entry of entries) {
          for (const value of queue.accept(entry, 0)) {
            const m = messages.find((x) => `m${x.n}` === value)!;
            assert.ok(!m.held || compareIds(`${m.n}-0`, queue.frontier) <= 0, `${value} released before a commit covered it`);
            assert.ok(!aborted.has(m.n), `${value} released though aborted`);
            released.push(value);
          }
        }
        assert.deepEqual(released, expected);
      }),
      { numRuns: fuzzRuns(500) },
    );
  });
});
