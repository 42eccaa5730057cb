/**
 * Attack: cross-site WebSocket hijacking. A page on another site opens a
 * WebSocket to the server with the user's cookies; the browser sends that
 * site's Origin. The server refuses it (403) on /ws, and on /echo and /add;
 * its own origin and those given with `--allow-origin` pass. Run against the
 * real `wskit serve` binary so the flag itself is tested.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dial, HandshakeError } from 'wskit';
import { Bystander, Cleanups, tempDir } from '../helpers/attack-server.js';
import { spawnServe } from '../helpers/server-child.js';

const ALLOWED = 'https://chat.example.com';

let base: string;
let bystander: Bystander;
const suite = new Cleanups();
before(async () => {
  const serve = await spawnServe(['--data', tempDir(suite), '--allow-origin', ALLOWED]);
  suite.after(() => serve.stop().then(() => undefined));
  base = serve.wsBase;
  bystander = await Bystander.join(suite, base);
});
after(() => suite.run());

async function status(path: string, origin: string | undefined): Promise<number> {
  try {
    const { conn } = await dial(`${base}${path}`, { headers: origin === undefined ? {} : { Origin: origin } });
    await conn.close();
    return 101;
  } catch (err) {
    if (err instanceof HandshakeError) return err.status;
    throw err;
  }
}

const FOREIGN = ['https://evil.example', 'http://evil.example', 'null', 'http://127.0.0.1.evil.example', 'file://', 'chrome-extension://abcdef'];

for (const origin of FOREIGN) {
  test(`Attack: cross-site WebSocket hijacking from Origin ${origin} is refused with 403 on /ws, /echo and /add`, async () => {
    for (const path of ['/ws?room=bystanders&name=victim', '/echo', '/add']) {
      assert.equal(await status(path, origin), 403, `${path} from ${origin}`);
    }
    await bystander.check(`a hijacking attempt from ${origin}`);
  });
}

test('Attack: the 403 tells the page why, and no WebSocket is opened', async () => {
  const err = await dial(`${base}/ws?room=bystanders&name=victim`, { headers: { Origin: 'https://evil.example' } }).then(
    () => assert.fail('accepted'),
    (e: unknown) => e as HandshakeError,
  );
  assert.match(err.body, /Origin https:\/\/evil\.example is not allowed/);
  assert.deepEqual(bystander.alice.users(), ['alice', 'bob'], 'the victim never joined the room');
});

test('Cross-site WebSocket hijacking defence lets the server\'s own origin, an --allow-origin origin and non-browser clients in', async () => {
  const own = base.replace('ws://', 'http://');
  assert.equal(await status('/ws?room=bystanders&name=own', own), 101);
  assert.equal(await status('/ws?room=bystanders&name=partner', ALLOWED), 101);
  assert.equal(await status('/ws?room=bystanders&name=cli', undefined), 101);
  assert.equal(await status('/echo', own), 101);
  // --allow-origin extends the chat's list, not the other routes' same-origin rule.
  assert.equal(await status('/echo', ALLOWED), 403);
  // Same host, other scheme or port: another origin.
  assert.equal(await status('/ws?room=bystanders&name=x', own.replace('http://', 'https://')), 403);
  assert.equal(await status('/ws?room=bystanders&name=x', `${ALLOWED}:8443`), 403);
  await bystander.check('allowed origins');
});
