/**
 * Interop: wskit's client (`dial`) with a Python `websockets` server (Debian
 * python3-websockets), with and without permessage-deflate, text and binary
 * of 0 B to 1 MiB, and 16 MiB once per mode. The Python server reports the
 * hash of each message it receives; the test compares both directions and
 * the close codes and reasons each way.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseError, dial } from '../../src/index.js';
import { CLOSE_ME, echoEach, MAX_MESSAGE, payload, sha256 } from './peers.js';
import { type PythonServer, pythonSamples, pythonSkip, startPythonServer } from './python.js';

const skip = pythonSkip();

for (const compression of [false, true]) {
  describe(`wskit client with the Python websockets server, permessage-deflate ${compression ? 'on' : 'off'}`, { skip }, () => {
    let server: PythonServer;
    before(async () => {
      server = await startPythonServer(compression);
    });
    after(() => server?.stop());

    test('text and binary from 0 B to 16 MiB are echoed intact; the client closes with 4001', async () => {
      const { conn } = await dial(server.url, { compression, maxMessageSize: MAX_MESSAGE });
      assert.equal(conn.extensions.includes('permessage-deflate'), compression, `negotiated: ${conn.extensions}`);
      const samples = pythonSamples(compression);
      await echoEach(conn, samples);
      await conn.close(4001, 'bye from wskit');
      assert.equal((await conn.closed).closeCode, 4001, 'Python answers the close with the same code');

      const opened = server.reports.find((r) => r.event === 'open');
      assert.deepEqual(opened?.extensions, compression ? ['permessage-deflate'] : []);
      const closed = await server.waitFor((r) => r.event === 'closed');
      assert.deepEqual(closed, { event: 'closed', code: 4001, reason: 'bye from wskit' });
      assert.deepEqual(
        server.reports.filter((r) => r.event === 'received').map((r) => `${r.type}:${r.size}:${r.sha256}`),
        samples.map((s) => `${s.type}:${s.size}:${sha256(payload(s))}`),
        'Python received exactly what wskit sent',
      );
    });

    test('a close from Python reaches wskit with its code and reason', async () => {
      const { conn } = await dial(server.url, { compression });
      await conn.write('text', CLOSE_ME);
      await assert.rejects(conn.read(), (err: unknown) => {
        assert.ok(err instanceof CloseError);
        assert.equal(err.closeCode, 4003);
        assert.equal(err.reason, 'bye from python');
        return true;
      });
      assert.equal((await conn.closed).closeCode, 4003);
    });
  });
}
