/**
 * Interop: wskit's server with Python's `websockets` client (Debian
 * python3-websockets), with and without permessage-deflate, text and binary
 * of 0 B to 1 MiB, and 16 MiB once per mode. The Python side checks each echo
 * and reports hashes; the wskit side records what it received, so both
 * directions are checked, as are close codes and reasons.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type RecordingServer, SERVER_CLOSE, startRecordingServer } from './peers.js';
import { pythonSamples, pythonSkip, runPythonClient } from './python.js';

const skip = pythonSkip();

for (const compression of [false, true]) {
  describe(`wskit server with the Python websockets client, permessage-deflate ${compression ? 'on' : 'off'}`, { skip }, () => {
    let server: RecordingServer;
    before(async () => {
      server = await startRecordingServer(compression);
    });
    after(() => server?.stop());

    test('text and binary from 0 B to 16 MiB are echoed intact; closes carry codes and reasons both ways', async () => {
      const samples = pythonSamples(compression);
      const reports = await runPythonClient(server.url, compression, samples.map((s) => `${s.type}:${s.size}`).join(','), 60_000);

      const opened = reports.find((r) => r.event === 'open');
      assert.deepEqual(opened?.extensions, compression ? ['permessage-deflate'] : []);
      const echoes = reports.filter((r) => r.event === 'echo');
      assert.equal(echoes.length, samples.length, 'one echo per sample');
      for (const [i, echo] of echoes.entries()) {
        const name = `${samples[i]!.size}-byte ${samples[i]!.type}`;
        assert.equal(echo.echo_type, samples[i]!.type, `type of the ${name} echo`);
        assert.equal(echo.equal, true, `the ${name} echo differs`);
        assert.equal(echo.received, echo.sent, `hash of the ${name} echo`);
      }
      // wskit answered Python's close with the same code.
      assert.deepEqual(
        reports.find((r) => r.event === 'closed'),
        { event: 'closed', code: 4001, reason: '' },
      );
      // wskit's close reached Python with its code and reason.
      assert.deepEqual(
        reports.find((r) => r.event === 'server-closed'),
        { event: 'server-closed', code: SERVER_CLOSE.code, reason: SERVER_CLOSE.reason },
      );

      await server.closedCount(2);
      const [first] = server.connections;
      assert.equal(first!.extensions.includes('permessage-deflate'), compression);
      assert.deepEqual(
        first!.received.map((r) => r.sha256),
        echoes.map((e) => e.sent),
        'wskit received exactly what Python sent',
      );
      assert.deepEqual(
        first!.received.map((r) => `${r.type}:${r.size}`),
        samples.map((s) => `${s.type}:${s.size}`),
      );
      assert.equal(first!.closeCode, 4001);
      assert.equal(first!.closeReason, 'bye from python');
    });
  });
}
