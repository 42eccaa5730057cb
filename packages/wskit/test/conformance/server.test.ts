/**
 * The conformance suite against wskit's SERVER side: every case of
 * test/conformance/cases, played by a raw TCP client fuzzer against an
 * Upgrader echo configured as `wskit serve`'s `/echo` (16 MiB limit,
 * permessage-deflate), as Autobahn|Testsuite's fuzzingclient would.
 */
import { after, before, describe, test } from 'node:test';
import { type EchoServer, startEchoServer } from '../helpers/echo-server.js';
import { CATEGORIES } from './cases/index.js';
import { openClientFuzzer } from './raw-client.js';
import { runCase } from './run-case.js';

let server: EchoServer;
let echoUrl: string;

before(async () => {
  server = await startEchoServer();
  echoUrl = server.url;
});

after(() => server?.stop());

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
