import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkOrigin } from '../../src/chat/origin.js';

const host = '127.0.0.1:8080';

test('checkOrigin passes requests without Origin and from the same scheme, host and port', () => {
  assert.equal(checkOrigin({ origin: undefined, host, secure: false }, []), undefined);
  assert.equal(checkOrigin({ origin: 'http://127.0.0.1:8080', host, secure: false }, []), undefined);
  assert.equal(checkOrigin({ origin: 'HTTP://LOCALHOST', host: 'localhost:80', secure: false }, []), undefined, 'case and default port do not matter');
  assert.equal(checkOrigin({ origin: 'https://chat.example', host: 'chat.example', secure: true }, []), undefined);
});

test('checkOrigin refuses another port, scheme or host, and opaque origins', () => {
  for (const origin of ['http://127.0.0.1:8081', 'https://127.0.0.1:8080', 'http://evil.example', 'null', 'file://', 'ws://127.0.0.1:8080']) {
    assert.equal(typeof checkOrigin({ origin, host, secure: false }, []), 'string', origin);
  }
  assert.equal(typeof checkOrigin({ origin: 'http://127.0.0.1:8080', host: undefined, secure: false }, []), 'string');
});

test('checkOrigin passes listed origins and anything with *', () => {
  assert.equal(checkOrigin({ origin: 'https://a.example', host, secure: false }, ['https://a.example']), undefined);
  assert.equal(checkOrigin({ origin: 'https://a.example:443', host, secure: false }, ['https://a.example/']), undefined);
  assert.equal(typeof checkOrigin({ origin: 'https://b.example', host, secure: false }, ['https://a.example']), 'string');
  assert.equal(checkOrigin({ origin: 'null', host, secure: false }, ['*']), undefined);
});
