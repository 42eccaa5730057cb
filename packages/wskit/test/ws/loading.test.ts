/**
 * wskit/ws loads as ws does: `require('wskit/ws')` is the WebSocket class
 * with its statics, and `import WebSocket, { WebSocketServer }` works, both
 * through the package's exports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const packageDir = fileURLToPath(new URL('../../../', import.meta.url));

function run(args: string[], source: string): string {
  return execFileSync(process.execPath, [...args, source], { cwd: packageDir, encoding: 'utf8', timeout: 10_000 }).trim();
}

test('wskit/ws require returns the WebSocket class with Server, WebSocketServer and WebSocket statics', () => {
  const out = run(
    ['-e'],
    `const WebSocket = require('wskit/ws');
     console.log([typeof WebSocket, WebSocket.name, WebSocket.Server === WebSocket.WebSocketServer, WebSocket.WebSocket === WebSocket, WebSocket.OPEN].join(','));`,
  );
  assert.equal(out, 'function,WebSocket,true,true,1');
});

test('wskit/ws import gives the default WebSocket and the named exports', () => {
  const out = run(
    ['--input-type=module', '-e'],
    `import WebSocket, { WebSocket as Named, WebSocketServer } from 'wskit/ws';
     console.log([WebSocket === Named, WebSocket.Server === WebSocketServer, typeof WebSocketServer].join(','));`,
  );
  assert.equal(out, 'true,true,function');
});
