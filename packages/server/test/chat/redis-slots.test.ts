import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseClusterSlots } from '../../src/chat/redis-connection.js';
import { RedisKeys } from '../../src/chat/redis-keys.js';
import { crc16, keySlot, SLOT_COUNT } from '../../src/chat/redis-slots.js';

describe('keySlot', () => {
  it('crc16 is CRC16/XMODEM: the check value of "123456789" is 0x31C3 (Redis Cluster specification)', () => {
    assert.equal(crc16(Buffer.from('123456789')), 0x31c3);
  });

  it('keySlot gives the slots Redis gives (CLUSTER KEYSLOT), hashing only a non-empty {tag}', () => {
    assert.equal(keySlot('foo'), 12182);
    assert.equal(keySlot('{user1000}.following'), keySlot('user1000'));
    assert.notEqual(keySlot('foo{}{bar}'), keySlot('bar'), 'an empty tag hashes the whole key');
    assert.equal(keySlot('foo{{bar}}zap'), keySlot('{bar'));
  });

  it('every key of a room falls in one slot, whatever the room (letters of any script included)', () => {
    const keys = new RedisKeys('chat:');
    for (const room of ['lobby', 'ÄÖÜ-ß', '部屋.1', 'a_b-c.d']) {
      const slots = new Set([
        keys.stream(room), keys.doorbell(room), keys.conns(room, 'n1'),
        keys.presence('pcount', room), keys.presence('pnames', room), keys.presence('pver', room),
      ].map(keySlot));
      assert.equal(slots.size, 1, `room ${room}`);
      assert.ok([...slots][0]! < SLOT_COUNT);
      assert.equal(keys.roomOfStream(keys.stream(room)), room);
    }
  });

  it('RedisKeys rejects a prefix with a brace', () => {
    assert.throws(() => new RedisKeys('chat{'), RangeError);
    assert.throws(() => new RedisKeys('}chat:'), RangeError);
  });
});

describe('parseClusterSlots', () => {
  it('parseClusterSlots groups the ranges of a CLUSTER SLOTS reply by master, with replicas, in slot order', () => {
    const reply = [
      [10923, 16383, ['127.0.0.1', 7002, 'c'], ['127.0.0.1', 7005, 'f']],
      [0, 100, ['127.0.0.1', 7000, 'a'], ['127.0.0.1', 7003, 'd']],
      [5461, 10922, ['127.0.0.1', 7001, 'b']],
      [101, 5460, ['127.0.0.1', 7000, 'a'], ['127.0.0.1', 7003, 'd']],
    ];
    assert.deepEqual(parseClusterSlots(reply), [
      { address: '127.0.0.1:7000', slots: [[0, 100], [101, 5460]], replicas: ['127.0.0.1:7003'] },
      { address: '127.0.0.1:7001', slots: [[5461, 10922]], replicas: [] },
      { address: '127.0.0.1:7002', slots: [[10923, 16383]], replicas: ['127.0.0.1:7005'] },
    ]);
    assert.deepEqual(parseClusterSlots([]), []);
    assert.deepEqual(parseClusterSlots(null), []);
  });
});
