import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs } from 'node:util';
import { CHAT_DEFAULTS, CHAT_FLAGS, chatOptionsFromFlags, formatDuration, parseDuration, resolveChatOptions } from '../../src/chat/options.js';

test('chatOptionsFromFlags reads every chat flag parsed with CHAT_FLAGS', () => {
  const { values } = parseArgs({
    options: CHAT_FLAGS,
    args: [
      '--data', '/tmp/d', '--history', '50', '--ping-period', '500ms', '--pong-wait', '1.5s', '--write-wait', '2s',
      '--send-queue', '64', '--rate-limit', '0', '--rate-burst', '5', '--allow-origin', 'https://a.example',
      '--allow-origin', 'https://b.example', '--max-connections', '9', '--max-rooms', '3', '--redis', 'redis://127.0.0.1:6390',
    ],
  });
  assert.deepEqual(chatOptionsFromFlags(values), {
    dataDir: '/tmp/d',
    historySize: 50,
    pingPeriodMs: 500,
    pongWaitMs: 1500,
    writeWaitMs: 2000,
    sendQueue: 64,
    rateLimit: 0,
    rateBurst: 5,
    allowOrigins: ['https://a.example', 'https://b.example'],
    maxConnections: 9,
    maxRooms: 3,
    redisUrl: 'redis://127.0.0.1:6390',
  });
});

test('chatOptionsFromFlags leaves unset flags to the defaults', () => {
  const resolved = resolveChatOptions(chatOptionsFromFlags({}));
  assert.equal(resolved.pingPeriodMs, 54_000);
  assert.equal(resolved.pongWaitMs, 60_000);
  assert.equal(resolved.writeWaitMs, 10_000);
  assert.equal(resolved.sendQueue, 256);
  assert.equal(resolved.historySize, 100);
  assert.equal(resolved.rateLimit, 20);
  assert.equal(resolved.rateBurst, 40);
  assert.equal(resolved.dataDir, CHAT_DEFAULTS.dataDir);
  assert.deepEqual(resolved.allowOrigins, []);
  assert.equal(resolved.redisUrl, undefined);
});

test('chatOptionsFromFlags rejects malformed values with RangeError', () => {
  for (const values of [{ history: '0' }, { history: 'ten' }, { 'send-queue': '-1' }, { 'ping-period': '54' }, { 'pong-wait': '0s' }, { 'write-wait': '1 week' }, { 'rate-limit': '1.5' }]) {
    assert.throws(() => chatOptionsFromFlags(values), RangeError, JSON.stringify(values));
  }
});

test('--presence-interval and --presence-max-users default to 250 ms and 1000, take 0 for always counting, and are bounded', () => {
  const resolved = resolveChatOptions(chatOptionsFromFlags({}));
  assert.equal(resolved.presenceIntervalMs, 250);
  assert.equal(resolved.presenceMaxUsers, 1000);
  assert.deepEqual(chatOptionsFromFlags({ 'presence-interval': '1s', 'presence-max-users': '0' }), { presenceIntervalMs: 1000, presenceMaxUsers: 0 });
  for (const values of [{ 'presence-interval': '250' }, { 'presence-interval': '0ms' }, { 'presence-max-users': '-1' }, { 'presence-max-users': 'many' }]) {
    assert.throws(() => chatOptionsFromFlags(values), RangeError, JSON.stringify(values));
  }
  for (const options of [{ presenceIntervalMs: 61_000 }, { presenceIntervalMs: 0.5 }, { presenceMaxUsers: 10_001 }]) {
    assert.throws(() => resolveChatOptions(options), RangeError, JSON.stringify(options));
  }
});

test('parseDuration reads ms, s, m and h', () => {
  assert.equal(parseDuration('--x', '500ms'), 500);
  assert.equal(parseDuration('--x', '54s'), 54_000);
  assert.equal(parseDuration('--x', '1.5m'), 90_000);
  assert.equal(parseDuration('--x', '1h'), 3_600_000);
});

test('resolveChatOptions refuses a ping period not below pong wait, and a bad allowed origin', () => {
  assert.throws(() => resolveChatOptions({ pingPeriodMs: 1000, pongWaitMs: 1000 }), RangeError);
  assert.throws(() => resolveChatOptions({ allowOrigins: ['not a url'] }), RangeError);
  assert.doesNotThrow(() => resolveChatOptions({ allowOrigins: ['*', 'http://localhost:3000'] }));
});

test('chatOptionsFromFlags takes the Redis URLs the broker accepts', () => {
  for (const url of ['redis://127.0.0.1:6379', 'rediss://cache.example:6380', 'redis://user:pw@h:1/2', 'redis://h', 'redis://[::1]:6379/', 'redis://:pw@h:6379/0']) {
    assert.equal(chatOptionsFromFlags({ redis: url }).redisUrl, url);
  }
});

test('chatOptionsFromFlags and resolveChatOptions reject a Redis URL of another scheme, without a host or with a non-numeric path', () => {
  for (const url of ['http://x', 'localhost:6379', 'redis://', 'redis://h:1/db', '', 'not a url']) {
    assert.throws(() => chatOptionsFromFlags({ redis: url }), RangeError, url);
    assert.throws(() => resolveChatOptions({ redisUrl: url }), RangeError, url);
  }
});

test('formatDuration writes what parseDuration reads, in the largest whole unit', () => {
  for (const [ms, text] of [[500, '500ms'], [54_000, '54s'], [60_000, '1m'], [90_000, '90s'], [3_600_000, '1h'], [1500, '1500ms']] as const) {
    assert.equal(formatDuration(ms), text);
    assert.equal(parseDuration('--x', text), ms);
  }
});

test('--redis-batch-wait defaults to 2 ms, takes 0 for never waiting, and is bounded to 50 ms', () => {
  assert.equal(resolveChatOptions(chatOptionsFromFlags({})).redisBatchWaitMs, 2);
  assert.deepEqual(chatOptionsFromFlags({ 'redis-batch-wait': '0' }), { redisBatchWaitMs: 0 });
  assert.deepEqual(chatOptionsFromFlags({ 'redis-batch-wait': '5ms' }), { redisBatchWaitMs: 5 });
  for (const values of [{ 'redis-batch-wait': '5' }, { 'redis-batch-wait': 'soon' }]) {
    assert.throws(() => chatOptionsFromFlags(values), RangeError, JSON.stringify(values));
  }
  for (const options of [{ redisBatchWaitMs: 51 }, { redisBatchWaitMs: -1 }, { redisBatchWaitMs: 0.5 }]) {
    assert.throws(() => resolveChatOptions(options), RangeError, JSON.stringify(options));
  }
});

test('--redis-replicas defaults to 0 and 1 s of waiting, needs --redis, and both are bounded', () => {
  const resolved = resolveChatOptions(chatOptionsFromFlags({}));
  assert.equal(resolved.redisReplicas, 0);
  assert.equal(resolved.redisReplicasTimeoutMs, 1000);
  assert.deepEqual(chatOptionsFromFlags({ 'redis-replicas': '2', 'redis-replicas-timeout': '250ms' }), { redisReplicas: 2, redisReplicasTimeoutMs: 250 });
  for (const values of [{ 'redis-replicas': '-1' }, { 'redis-replicas': '17' }, { 'redis-replicas': 'one' }, { 'redis-replicas-timeout': '11s' }, { 'redis-replicas-timeout': '5' }]) {
    assert.throws(() => chatOptionsFromFlags(values), RangeError, JSON.stringify(values));
  }
  assert.throws(() => chatOptionsFromFlags({ 'redis-replicas': '17' }), /--redis-replicas/);
  const redisUrl = 'redis://127.0.0.1:6390';
  for (const options of [{ redisUrl, redisReplicas: 1.5 }, { redisUrl, redisReplicasTimeoutMs: 0 }, { redisUrl, redisReplicasTimeoutMs: 10_001 }, { redisReplicas: 1 }]) {
    assert.throws(() => resolveChatOptions(options), RangeError, JSON.stringify(options));
  }
});
