/**
 * The conformance suite against wskit's CLIENT: every case of
 * test/conformance/cases, played by a raw TCP server fuzzer against a
 * `dial`ed connection whose owner echoes every message, which is exactly the
 * Autobahn client driver's `echoCase` (permessage-deflate offered, 16 MiB
 * limit), as Autobahn|Testsuite's fuzzingserver would.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { echoCase } from '../../autobahn/client-driver.js';
import { CATEGORIES } from './cases/index.js';
import { withTimeout } from './fuzzer.js';
import { FuzzingServer } from './raw-server.js';
import { runCase } from './run-case.js';

let server: FuzzingServer;

before(async () => {
  server = await FuzzingServer.start();
});

after(async () => {
  await server?.close();
});

for (const [category, cases] of CATEGORIES) {
  describe(`wskit client, Autobahn category ${category}`, () => {
    for (const c of cases) {
      if (c.applies === 'server') continue;
      test(`${c.id} ${c.title}`, async () => {
        const accepted = server.accept(c.deflate, 5_000);
        const client = echoCase(`${server.url}/runCase?case=${c.id}&agent=wskit`, { idleTimeoutMs: 30_000 });
        client.catch(() => {});
        await runCase(c, await accepted);
        // The client must have seen the connection end too (it resolves with how it closed).
        const closed = await withTimeout(client, 5_000, 'the client to finish the case');
        assert.ok(closed.closeCode >= 1000, `client ended with close code ${closed.closeCode}`);
      });
    }
  });
}
