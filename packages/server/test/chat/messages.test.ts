import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_TEXT_BYTES,
  MAX_TOKEN_LENGTH,
  checkName,
  checkRoom,
  checkText,
  isMessageId,
  checkPageRequest,
  parseClientFrame,
  parseJoinQuery,
  refreshedFrame,
} from '../../src/chat/messages.js';

test('checkRoom accepts letters of any script, digits, "_", "-" and "."', () => {
  for (const room of ['lobby', 'Room_1', 'a-b.c', 'café', '聊天室', 'x'.repeat(64)]) {
    assert.deepEqual(checkRoom(room), { ok: true, value: room }, room);
  }
});

test('checkRoom refuses empty, too long, spaces, HTML metacharacters, controls and lone surrogates', () => {
  const bad = ['', 'x'.repeat(65), 'two words', '<b>', 'a&b', 'a"b', "a'b", 'a/b', 'tab\there', 'nul\u0000', 'bad\ud800', 'emoji😀', 'new\nline'];
  for (const room of bad) assert.equal(checkRoom(room).ok, false, JSON.stringify(room));
  assert.equal(checkRoom(null).ok, false);
});

test('checkName counts characters, not UTF-16 units', () => {
  assert.equal(checkName('é'.repeat(64)).ok, true);
  assert.equal(checkName('𝒜'.repeat(64)).ok, true, '64 astral letters are 128 UTF-16 units');
  assert.equal(checkName('𝒜'.repeat(65)).ok, false);
});

test('checkName allows single inner spaces only', () => {
  assert.equal(checkName('Ada Lovelace').ok, true);
  assert.equal(checkName(' Ada').ok, false);
  assert.equal(checkName('Ada ').ok, false);
  assert.equal(checkName('Ada  L').ok, false);
  assert.equal(checkName('<img src=x onerror=alert(1)>').ok, false);
});

test('parseJoinQuery reads room, name and since', () => {
  assert.deepEqual(parseJoinQuery(new URLSearchParams('room=lobby&name=Ada')), { ok: true, value: { room: 'lobby', name: 'Ada' } });
  assert.deepEqual(parseJoinQuery(new URLSearchParams('room=lobby&name=Ada%20L&since=1700000000000-3')), {
    ok: true,
    value: { room: 'lobby', name: 'Ada L', since: '1700000000000-3' },
  });
  assert.deepEqual(parseJoinQuery(new URLSearchParams('room=lobby&name=Ada&since=')), { ok: true, value: { room: 'lobby', name: 'Ada' } });
});

test('parseJoinQuery refuses missing, repeated and malformed values', () => {
  for (const query of ['name=Ada', 'room=lobby', 'room=a&room=b&name=Ada', 'room=lobby&name=Ada&since=abc', 'room=lobby&name=Ada&since=1-2-3', 'room=lob%20by&name=Ada']) {
    const result = parseJoinQuery(new URLSearchParams(query));
    assert.equal(result.ok, false, query);
    assert.ok(!result.ok && result.error.length > 0);
  }
});

test('isMessageId accepts only <ms>-<seq>', () => {
  assert.equal(isMessageId('1700000000000-0'), true);
  for (const id of ['', '1', '-1', '1-', 'a-1', '1-1 ', '1.5-2']) assert.equal(isMessageId(id), false, id);
});

test('parseClientFrame returns the text of a message frame', () => {
  assert.deepEqual(parseClientFrame('{"type":"message","text":"hi <b>"}'), { ok: true, value: { type: 'message', text: 'hi <b>' } });
});

test('parseClientFrame returns the token of a refresh frame and keeps no other field', () => {
  assert.deepEqual(parseClientFrame('{"type":"refresh","token":"a.b.c","text":"x"}'), { ok: true, value: { type: 'refresh', token: 'a.b.c' } });
  assert.equal(parseClientFrame(JSON.stringify({ type: 'refresh', token: 't'.repeat(MAX_TOKEN_LENGTH) })).ok, true);
});

test('parseClientFrame refuses a refresh frame without a string token, or with one over the limit', () => {
  for (const frame of [{ type: 'refresh' }, { type: 'refresh', token: '' }, { type: 'refresh', token: 5 }, { type: 'refresh', token: ['a'] }, { type: 'refresh', token: 't'.repeat(MAX_TOKEN_LENGTH + 1) }]) {
    assert.equal(parseClientFrame(JSON.stringify(frame)).ok, false, JSON.stringify(frame).slice(0, 60));
  }
});

test('parseJoinQuery with a verified name ignores the query name, even a repeated or invalid one', () => {
  for (const query of ['room=lobby', 'room=lobby&name=mallory', 'room=lobby&name=a&name=b', 'room=lobby&name=%3Cb%3E']) {
    assert.deepEqual(parseJoinQuery(new URLSearchParams(query), 'alice'), { ok: true, value: { room: 'lobby', name: 'alice' } }, query);
  }
  assert.equal(parseJoinQuery(new URLSearchParams('name=alice'), 'alice').ok, false, 'the room is still required');
  assert.equal(parseJoinQuery(new URLSearchParams('room=a&room=b'), 'alice').ok, false);
});

test('refreshedFrame carries exp in seconds, or null without one', () => {
  assert.deepEqual(refreshedFrame(1700000000), { type: 'refreshed', exp: 1700000000 });
  assert.deepEqual(refreshedFrame(undefined), { type: 'refreshed', exp: null });
});

test('parseClientFrame reads a who request: after a name or from the start, 100 names unless asked, at most 500', () => {
  assert.deepEqual(parseClientFrame('{"type":"who"}'), { ok: true, value: { type: 'who', limit: 100 } });
  assert.deepEqual(parseClientFrame('{"type":"who","after":null,"limit":20}'), { ok: true, value: { type: 'who', limit: 20 } });
  assert.deepEqual(parseClientFrame('{"type":"who","after":"Zoë","limit":9999}'), { ok: true, value: { type: 'who', after: 'Zoë', limit: 500 } });
  for (const data of ['{"type":"who","limit":0}', '{"type":"who","limit":1.5}', '{"type":"who","after":5}', '{"type":"who","after":"<b>"}']) {
    assert.equal(parseClientFrame(data).ok, false, data);
  }
});

test('checkPageRequest reads ?after=&limit= of the HTTP presence route the same way', () => {
  assert.deepEqual(checkPageRequest(null, null), { ok: true, value: { limit: 100 } });
  assert.deepEqual(checkPageRequest('ada', '50'), { ok: true, value: { after: 'ada', limit: 50 } });
  assert.deepEqual(checkPageRequest('', '501'), { ok: true, value: { limit: 500 } });
  for (const [after, limit] of [[null, '0'], [null, '-1'], [null, 'ten'], ['a/b', '5']]) {
    assert.equal(checkPageRequest(after, limit).ok, false, `${after} ${limit}`);
  }
});

test('parseClientFrame refuses non-JSON, non-objects, unknown types and bad text', () => {
  for (const data of ['hello', '[]', 'null', '42', '{"type":"join"}', '{"text":"x"}', '{"type":"message"}', '{"type":"message","text":5}', '{"type":"message","text":""}', '{"type":"message","text":"\\ud800"}']) {
    assert.equal(parseClientFrame(data).ok, false, data);
  }
});

test('checkText accepts exactly 4096 bytes and refuses 4097', () => {
  assert.equal(checkText('a'.repeat(MAX_TEXT_BYTES)).ok, true);
  assert.equal(checkText('a'.repeat(MAX_TEXT_BYTES + 1)).ok, false);
  // 2048 two-byte characters fill the limit; one more does not fit.
  assert.equal(checkText('é'.repeat(2048)).ok, true);
  assert.equal(checkText('é'.repeat(2048) + 'a').ok, false);
});
