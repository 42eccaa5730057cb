/**
 * The conformance suite's framing, UTF-8, close and limit cases against
 * wskit's server with each connection an HTTP/2 stream (RFC 8441): one h2c
 * session carries every case in turn, so the cases also show that one
 * stream's protocol error or close leaves the session and the next stream
 * alone.
 */
import { after, before, describe, test } from 'node:test';
import type { ClientHttp2Session } from 'node:http2';
import { type EchoServer, startEchoServer } from '../helpers/echo-server.js';
import { CATEGORIES } from './cases/index.js';
import { connectSession, openStreamFuzzer } from './raw-http2-client.js';
import { runCase } from './run-case.js';

const OVER_HTTP2 = new Set(['1 framing', '6 UTF-8', '7 close handling', '9 limits and performance']);

let server: EchoServer;
let session: ClientHttp2Session;

before(async () => {
  server = await startEchoServer({ http2: true });
  session = await connectSession(server.url, 5_000);
});

after(async () => {
  session?.destroy();
  await server?.stop();
});

for (const [category, cases] of CATEGORIES) {
  if (!OVER_HTTP2.has(category)) continue;
  describe(`wskit server over an HTTP/2 stream, Autobahn category ${category}`, () => {
    for (const c of cases) {
      if (c.applies === 'client') continue;
      test(`${c.id} ${c.title}`, async () => {
        const f = await openStreamFuzzer(session, server.url, c.deflate, 5_000);
        await runCase(c, f);
      });
    }
  });
}
