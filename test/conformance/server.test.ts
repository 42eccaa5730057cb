/**
 * The conformance suite against wskit's SERVER: every case of
 * test/conformance/cases, played by a raw TCP client fuzzer against the
 * `/echo` route of `wskit serve` (16 MiB limit, permessage-deflate), as
 * Autobahn|Testsuite's fuzzingclient would.
 */
import { after, before, describe, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../apps/server.js';
import { CATEGORIES } from './cases/index.js';
import { openClientFuzzer } from './raw-client.js';
import { runCase } from './run-case.js';

let server: RunningServer;
let dataDir: string;
let echoUrl: string;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'wskit-conformance-'));
  server = await startServer({ port: 0, host: '127.0.0.1', chat: { dataDir }, log: () => {} });
  echoUrl = `${server.url.replace(/^http/, 'ws')}/echo`;
});

after(async () => {
  await server?.shutdown();
  rmSync(dataDir, { recursive: true, force: true });
});

for (const [category, cases] of CATEGORIES) {
  describe(`wskit server, Autobahn category ${category}`, () => {
    for (const c of cases) {
      if (c.applies === 'client') continue;
      test(`${c.id} ${c.title}`, async () => {
        const f = await openClientFuzzer(echoUrl, c.deflate, 5_000);
        await runCase(c, f);
      });
    }
  });
}
