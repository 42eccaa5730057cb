/**
 * Presence as clients see it, written once and run on one node
 * (presence.test.ts) and on two `wskit serve --redis` nodes
 * (presence-cluster.test.ts). Clients alternate between the nodes, so on a
 * cluster every change crosses Redis. Each scenario uses its own room.
 *
 * The servers run with {@link SCENARIO_FLAGS}: a 1 s presence interval (a
 * join and leave of a short-lived client fall in one interval) and counts
 * above 4 names.
 */
import assert from 'node:assert/strict';
import { compareNames } from '../../src/chat/names.js';
import { Peer } from './harness.js';

/** The presence settings the scenarios expect, as options and as `wskit serve` flags. */
export const SCENARIO_OPTIONS = { presenceIntervalMs: 1_000, presenceMaxUsers: 4 } as const;
/** {@link SCENARIO_OPTIONS} as command-line flags. */
export const SCENARIO_FLAGS = ['--presence-interval', '1s', '--presence-max-users', '4'];

/** Where the scenarios connect: `nodes` servers, any of which serves any room. */
export interface Nodes {
  count: number;
  /** The /ws URL of node `node` for `room` and `name`. */
  url(node: number, room: string, name: string): string;
}

/** Everything a scenario opened, terminated when the test ends. */
export type Track = (peer: Peer) => Peer;

async function enter(nodes: Nodes, track: Track, node: number, room: string, name: string): Promise<Peer> {
  const peer = track(await Peer.connect(nodes.url(node % nodes.count, room, name)));
  await peer.waitFor(() => peer.of('presence').length > 0, `${name}'s presence snapshot`, 10_000);
  return peer;
}

/**
 * Waits until a `who` through `peer` lists every name of `names`: their joins
 * have reached the broker. (A newcomer gets its snapshot just before its join
 * is recorded, so on a cluster another node may not know it yet.)
 */
async function waitListed(peer: Peer, names: string[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const listed = new Set((await peer.who(undefined, 500)).users);
    if (names.every((name) => listed.has(name))) return;
    if (Date.now() > deadline) assert.fail(`who never listed all of ${names.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function assertClean(peers: Peer[]): void {
  for (const peer of peers) assert.deepEqual(peer.presence.errors, [], 'every change applies to the view it was meant for');
}

/** A newcomer gets a snapshot with itself; the others get it as a change. Two tabs keep a name listed once. A join and leave in one interval show nothing. */
export async function snapshotChangesTabsAndCoalescing(nodes: Nodes, track: Track): Promise<void> {
  const room = 'snap';
  const ada = await enter(nodes, track, 0, room, 'ada');
  assert.deepEqual(ada.of('presence')[0], { type: 'presence', room, users: ['ada'] });
  assert.equal(ada.frames[0]?.type, 'history', 'history comes first');
  await waitListed(ada, ['ada']);
  const bob = await enter(nodes, track, 1, room, 'bob');
  assert.deepEqual(bob.of('presence')[0], { type: 'presence', room, users: ['ada', 'bob'] });
  await ada.waitUsers(['ada', 'bob']);
  assert.deepEqual(ada.of('presence')[1], { type: 'presence', room, joined: ['bob'], left: [] });

  // A second tab of ada on the other node; then the first tab leaves.
  const ada2 = await enter(nodes, track, 1, room, 'ada');
  assert.deepEqual(ada2.of('presence')[0], { type: 'presence', room, users: ['ada', 'bob'] });
  await ada.close();
  const carl = await enter(nodes, track, 0, room, 'carl');
  await bob.waitUsers(['ada', 'bob', 'carl']);
  assert.ok(!bob.of('presence').some((f) => 'left' in f && f.left.includes('ada')), 'ada stayed online in her second tab');
  await ada2.close();
  await bob.waitUsers(['bob', 'carl']);
  await carl.waitUsers(['bob', 'carl']);

  // No change is pending now: a short-lived client starts an interval and leaves inside it.
  const quick = await enter(nodes, track, 0, room, 'quick');
  await quick.close();
  const marker = await enter(nodes, track, 1, room, 'marker');
  await bob.waitUsers(['bob', 'carl', 'marker']);
  await carl.waitUsers(['bob', 'carl', 'marker']);
  // (The marker itself may be told of quick: its snapshot is what its node knew, and quick's
  // leave may still be on its way there through Redis.)
  for (const peer of [bob, carl]) {
    assert.ok(!JSON.stringify(peer.of('presence')).includes('quick'), `${peer.of('presence').length} presence frames to one peer never named quick`);
  }
  assertClean([bob, carl, marker, ada2]);
}

/** Above 4 names every member switches to one count frame, and back to one list of names below. */
export async function countsAndBack(nodes: Nodes, track: Track): Promise<void> {
  const room = 'counts';
  const names = ['n1', 'n2', 'n3', 'n4'];
  const peers: Peer[] = [];
  for (const [i, name] of names.entries()) peers.push(await enter(nodes, track, i, room, name));
  for (const peer of peers) await peer.waitUsers(names);

  const fifth = await enter(nodes, track, 0, room, 'n5');
  assert.deepEqual(fifth.of('presence')[0], { type: 'presence', room, count: 5 }, 'a newcomer above the threshold gets a count');
  for (const peer of peers) await peer.waitCount(5);
  const listed = peers.map((peer) => peer.of('presence').length);
  for (const peer of peers) {
    const counts = peer.of('presence').filter((f) => 'count' in f);
    assert.deepEqual(counts, [{ type: 'presence', room, count: 5 }], 'one frame of the new kind');
  }

  await fifth.close();
  for (const peer of [...peers]) await peer.waitUsers(names);
  peers.forEach((peer, i) => {
    assert.deepEqual(peer.of('presence').slice(listed[i]), [{ type: 'presence', room, users: names }], 'back to names with one list');
  });
  assertClean(peers);
}

/** who pages every name once, in order, at most `limit` a page, while names keep joining. */
export async function whoPaging(nodes: Nodes, track: Track): Promise<void> {
  const room = 'who';
  const names = Array.from({ length: 12 }, (_, i) => `user ${String.fromCharCode(97 + i)}`);
  names.push('Ωmega', 'Zoë');
  const asker = await enter(nodes, track, 0, room, 'asker');
  for (const [i, name] of names.entries()) await enter(nodes, track, i + 1, room, name);
  const everyone = [...names, 'asker'];
  await waitListed(asker, everyone);
  const seen: string[] = [];
  let after: string | undefined;
  let pages = 0;
  do {
    const page = await asker.who(after, 4);
    assert.ok(page.users.length <= 4, `a page of ${page.users.length} names`);
    seen.push(...page.users);
    after = page.next ?? undefined;
    // Names keep joining on both sides of the cursor.
    await enter(nodes, track, pages, room, `${pages}early`);
    await enter(nodes, track, pages + 1, room, `zz late ${pages}`);
    pages++;
  } while (after !== undefined && pages < 20);
  assert.equal(new Set(seen).size, seen.length, 'no name twice');
  for (const name of everyone) assert.ok(seen.includes(name), `${name} listed`);
  assert.deepEqual(seen, [...seen].sort(compareNames), 'one stable order');

  const all = await asker.who(undefined, 100_000);
  assert.ok(all.users.length <= 500, 'a page never exceeds 500 names');
  assert.equal(all.next, null);
  const before = asker.of('error').length;
  await asker.conn.writeJSON({ type: 'who', limit: 0 });
  await asker.waitFor(() => asker.of('error').length > before, 'an error frame for limit 0');
  assert.match(asker.of('error').at(-1)!.error, /Invalid limit/);
}
