/**
 * Category 2, pings and pongs (RFC 6455 §5.5.2, §5.5.3): every ping gets a
 * pong with the same payload, a ping over 125 bytes fails the connection,
 * unsolicited pongs are ignored.
 */
import { OP } from '../fuzzer.js';
import { bytes } from './payloads.js';
import type { ConformanceCase } from './types.js';

/** The ping and pong cases. */
export const pingCases: ConformanceCase[] = [
  {
    id: '2.1',
    title: 'ping without payload gets an empty pong',
    async run(f) {
      await f.send(OP.PING);
      await f.expectPong('');
      await f.closeNormally();
    },
  },
  {
    id: '2.2',
    title: 'ping with a text payload gets a pong with the same payload',
    async run(f) {
      await f.send(OP.PING, 'Hello, world!');
      await f.expectPong('Hello, world!');
      await f.closeNormally();
    },
  },
  {
    id: '2.3',
    title: 'ping with a binary payload gets a pong with the same payload',
    async run(f) {
      const payload = Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]);
      await f.send(OP.PING, payload);
      await f.expectPong(payload);
      await f.closeNormally();
    },
  },
  {
    id: '2.4',
    title: 'ping with a 125-byte payload gets a pong with the same payload',
    async run(f) {
      const payload = bytes(125, 24);
      await f.send(OP.PING, payload);
      await f.expectPong(payload);
      await f.closeNormally();
    },
  },
  {
    id: '2.5',
    title: 'ping with a 126-byte payload fails the connection with 1002, no pong',
    async run(f) {
      await f.send(OP.PING, bytes(126, 25));
      await f.expectClose(1002);
    },
  },
  {
    id: '2.6',
    title: 'ping with a 125-byte payload written one byte at a time gets its pong',
    async run(f) {
      const payload = bytes(125, 26);
      await f.sendRaw(f.frame(OP.PING, payload), 1);
      await f.expectPong(payload);
      await f.closeNormally();
    },
  },
  {
    id: '2.7',
    title: 'unsolicited empty pong is ignored',
    async run(f) {
      await f.send(OP.PONG);
      await f.closeNormally();
    },
  },
  {
    id: '2.8',
    title: 'unsolicited pong with payload is ignored',
    async run(f) {
      await f.send(OP.PONG, 'unsolicited pong payload');
      await f.closeNormally();
    },
  },
  {
    id: '2.9',
    title: 'unsolicited pong then ping: only the ping is answered',
    async run(f) {
      await f.send(OP.PONG, 'unsolicited pong payload');
      await f.send(OP.PING, 'ping payload');
      await f.expectPong('ping payload');
      await f.closeNormally();
    },
  },
  {
    id: '2.10',
    title: '10 pings sent back to back get 10 pongs in order',
    async run(f) {
      for (let i = 0; i < 10; i++) await f.send(OP.PING, `payload-${i}`);
      for (let i = 0; i < 10; i++) await f.expectPong(`payload-${i}`);
      await f.closeNormally();
    },
  },
  {
    id: '2.11',
    title: '10 pings written one byte at a time get 10 pongs in order',
    async run(f) {
      for (let i = 0; i < 10; i++) await f.sendRaw(f.frame(OP.PING, `payload-${i}`), 1);
      for (let i = 0; i < 10; i++) await f.expectPong(`payload-${i}`);
      await f.closeNormally();
    },
  },
  {
    id: '2.12',
    title: 'pings between the fragments of a message are answered before the echo',
    async run(f) {
      await f.send(OP.TEXT, 'frag1', { fin: false });
      await f.send(OP.PING, 'one');
      await f.send(OP.CONT, 'frag2', { fin: false });
      await f.send(OP.PING, 'two');
      await f.send(OP.CONT, 'frag3', { fin: true });
      await f.expectPong('one');
      await f.expectPong('two');
      await f.expectMessage('text', 'frag1frag2frag3');
      await f.closeNormally();
    },
  },
];
