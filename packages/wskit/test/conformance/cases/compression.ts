/**
 * Categories 12 and 13, permessage-deflate (RFC 7692): messages of many
 * sizes sent compressed (with context takeover across messages) are echoed,
 * under every negotiable parameter: no_context_takeover either way and
 * max_window_bits 9–15 either way. The fuzzer inflates the peer's messages
 * with exactly the agreed window and context rule, so a peer that compresses
 * beyond what it agreed fails. Also: fragmented compressed messages, RSV1 on
 * the wrong frame, corrupt deflate data, and a compression bomb (1009).
 */
import type { Fuzzer } from '../fuzzer.js';
import { OP } from '../fuzzer.js';
import type { DeflateCase } from '../raw-handshake.js';
import { bytes, hex, text } from './payloads.js';
import { type ConformanceCase, LIMIT } from './types.js';

const SIZES = [16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072];

/**
 * Send messages that make context takeover and window size visible: each
 * payload twice (the second copy compresses to back-references into the
 * first), then the echoes in order.
 */
async function compressedEchoes(f: Fuzzer, type: 'text' | 'binary', sizes: number[], compress = true): Promise<void> {
  const make = type === 'text' ? text : bytes;
  for (const [i, size] of sizes.entries()) {
    const data = make(size, 1200 + i);
    await f.sendMessage(type, data, { compress });
    await f.sendMessage(type, data, { compress });
    await f.expectMessage(type, data);
    await f.expectMessage(type, data);
  }
  await f.closeNormally();
}

function paramCase(id: string, title: string, deflate: DeflateCase, applies?: 'server' | 'client'): ConformanceCase {
  return {
    id,
    title: `${title}: text of 64 B to 64 KiB, each twice, echoed`,
    deflate,
    ...(applies ? { applies } : {}),
    run: (f) => compressedEchoes(f, 'text', [64, 1500, 8192, 65536]),
  };
}

const WINDOWS = [9, 10, 11, 12, 13, 14, 15];

/** The compression cases. */
export const compressionCases: ConformanceCase[] = [
  ...SIZES.map((size, i): ConformanceCase => ({
    id: `12.1.${i + 1}`,
    title: `compressed text of ${size} bytes, twice, echoed`,
    deflate: {},
    run: (f) => compressedEchoes(f, 'text', [size]),
  })),
  ...SIZES.map((size, i): ConformanceCase => ({
    id: `12.2.${i + 1}`,
    title: `compressed binary of ${size} bytes, twice, echoed`,
    deflate: {},
    run: (f) => compressedEchoes(f, 'binary', [size]),
  })),
  {
    id: '12.3.1',
    title: 'compressed text of 64 KiB in 1 KiB fragments (RSV1 on the first only) is echoed',
    deflate: {},
    async run(f) {
      const data = text(65536, 1231);
      await f.sendMessage('text', data, { compress: true, fragmentSize: 1024 });
      await f.expectMessage('text', data);
      await f.closeNormally();
    },
  },
  {
    id: '12.3.2',
    title: 'compressed binary in 1-byte fragments is echoed',
    deflate: {},
    async run(f) {
      const data = bytes(300, 1232);
      await f.sendMessage('binary', data, { compress: true, fragmentSize: 1 });
      await f.expectMessage('binary', data);
      await f.closeNormally();
    },
  },
  {
    id: '12.4.1',
    title: 'uncompressed messages on a compressed connection are echoed (each message chooses)',
    deflate: {},
    run: (f) => compressedEchoes(f, 'binary', [10, 5000], false),
  },
  {
    id: '12.4.2',
    title: 'a ping between the fragments of a compressed message is answered first',
    deflate: {},
    async run(f) {
      const data = text(4000, 1242);
      const compressed = await f.compress(data);
      const half = compressed.length >> 1;
      await f.send(OP.TEXT, compressed.subarray(0, half), { fin: false, rsv1: true });
      await f.send(OP.PING, 'between');
      await f.send(OP.CONT, compressed.subarray(half));
      await f.expectPong('between');
      await f.expectMessage('text', data);
      await f.closeNormally();
    },
  },
  {
    id: '12.5.1',
    title: 'a compressed message that inflates to exactly the 16 MiB limit is echoed',
    deflate: {},
    timeoutMs: 30_000,
    async run(f) {
      f.timeoutMs = 20_000;
      const data = Buffer.alloc(LIMIT, 0x61);
      await f.sendMessage('text', data, { compress: true });
      await f.expectMessage('text', data);
      await f.closeNormally();
    },
  },
  {
    id: '12.5.2',
    title: 'a compression bomb (16 KiB inflating past the 16 MiB limit) fails with 1009',
    deflate: {},
    timeoutMs: 30_000,
    async run(f) {
      f.timeoutMs = 20_000;
      await f.sendMessage('binary', Buffer.alloc(LIMIT + 1), { compress: true });
      await f.expectClose(1009);
    },
  },
  {
    id: '12.5.3',
    title: 'a compressed 16 MiB incompressible binary message (larger than 16 MiB on the wire) is echoed',
    deflate: {},
    timeoutMs: 30_000,
    async run(f) {
      f.timeoutMs = 20_000;
      // Deflate expands random bytes a little: the limit is on the inflated size, as documented.
      const data = bytes(LIMIT, 1253);
      await f.sendMessage('binary', data, { compress: true });
      await f.expectMessage('binary', data);
      await f.closeNormally();
    },
  },
  {
    id: '12.5.4',
    title: 'a compressed frame announcing 20 MiB fails with 1009 before its payload is sent',
    deflate: {},
    async run(f) {
      const masked = f.role === 'client';
      const head = Buffer.alloc(10);
      head[0] = 0xc2; // FIN, RSV1, binary
      head[1] = (masked ? 0x80 : 0) | 127;
      head.writeUInt32BE(20 * 1024 * 1024, 6);
      await f.sendRaw(masked ? Buffer.concat([head, Buffer.from([1, 2, 3, 4])]) : head);
      await f.expectClose(1009);
    },
  },
  {
    id: '12.6.1',
    title: 'RSV1 on a continuation frame fails with 1002',
    deflate: {},
    async run(f) {
      const compressed = await f.compress(Buffer.from('Hello, Hello, Hello'));
      await f.send(OP.TEXT, compressed.subarray(0, 3), { fin: false, rsv1: true });
      await f.send(OP.CONT, compressed.subarray(3), { rsv1: true });
      await f.expectClose(1002);
    },
  },
  {
    id: '12.6.2',
    title: 'RSV1 on a ping fails with 1002 even with permessage-deflate',
    deflate: {},
    async run(f) {
      await f.send(OP.PING, 'compressed?', { rsv1: true });
      await f.expectClose(1002);
    },
  },
  {
    id: '12.6.3',
    title: 'deflate data that does not inflate fails the connection (1007 or 1002)',
    deflate: {},
    async run(f) {
      await f.send(OP.BINARY, hex('ff ff ff ff ff ff'), { rsv1: true });
      await f.expectClose([1007, 1002]);
    },
  },
  {
    id: '12.6.4',
    title: 'compressed text that inflates to invalid UTF-8 fails with 1007',
    deflate: {},
    async run(f) {
      await f.sendMessage('text', hex('cebae1bdb9cf83cebcceb5eda080656469746564'), { compress: true });
      await f.expectClose(1007);
    },
  },
  {
    id: '12.6.5',
    title: 'RFC 7692 §7.2.3.1 example: "Hello" compressed in one block is echoed',
    deflate: {},
    async run(f) {
      await f.send(OP.TEXT, hex('f2 48 cd c9 c9 07 00'), { rsv1: true });
      await f.expectMessage('text', 'Hello');
      await f.closeNormally();
    },
  },
  {
    id: '12.6.6',
    title: 'RFC 7692 §7.2.3.3: "Hello" as a DEFLATE block with BFINAL set, twice, is echoed twice',
    // The sender resets its compressor after each message, so each message is a DEFLATE stream of its own.
    deflate: { clientNoContextTakeover: true, serverNoContextTakeover: true },
    async run(f) {
      // A final block ends the sender's DEFLATE stream; the receiver must start the next message afresh.
      await f.send(OP.TEXT, hex('f3 48 cd c9 c9 07 00 00'), { rsv1: true });
      await f.send(OP.TEXT, hex('f3 48 cd c9 c9 07 00 00'), { rsv1: true });
      await f.expectMessage('text', 'Hello');
      await f.expectMessage('text', 'Hello');
      await f.closeNormally();
    },
  },
  paramCase('13.1.1', 'plain permessage-deflate offer', {}),
  paramCase('13.2.1', 'server_no_context_takeover', { serverNoContextTakeover: true }),
  paramCase('13.2.2', 'client_no_context_takeover', { clientNoContextTakeover: true }),
  paramCase('13.2.3', 'no context takeover both ways', { serverNoContextTakeover: true, clientNoContextTakeover: true }),
  // Our client never offers server_max_window_bits, and a server may only answer it when offered (RFC 7692 §7.1.2.1).
  ...WINDOWS.map((w, i) => paramCase(`13.3.${i + 1}`, `server_max_window_bits=${w}`, { serverMaxWindowBits: w }, 'server')),
  {
    id: '13.4.0',
    title: 'client_max_window_bits=8 (Autobahn 13.3/13.5 answer it): accepted, the client echoes uncompressed',
    // zlib has no 8-bit window, so honouring 8 means not compressing; a server cannot ask it of our server.
    deflate: { clientMaxWindowBits: 8 },
    applies: 'client',
    async run(f) {
      await compressedEchoes(f, 'text', [64, 1500, 65536]);
      if (f.compressedReceived !== 0) throw new Error(`The client compressed ${f.compressedReceived} messages with a window it cannot keep to 8 bits`);
    },
  },
  {
    id: '13.3.0',
    title: 'server_max_window_bits=8 (Autobahn 13.3.1/13.5.1 offer it): accepted, the server echoes uncompressed',
    // zlib has no 8-bit window, so the server honours 8 by not compressing (RFC 7692 §6 lets each message choose).
    deflate: { serverMaxWindowBits: 8 },
    applies: 'server',
    async run(f) {
      await compressedEchoes(f, 'text', [64, 1500, 65536]);
      if (f.compressedReceived !== 0) throw new Error(`The server compressed ${f.compressedReceived} messages with a window it cannot keep to 8 bits`);
    },
  },
  ...WINDOWS.map((w, i) => paramCase(`13.4.${i + 1}`, `client_max_window_bits=${w}`, { clientMaxWindowBits: w })),
  paramCase('13.5.1', 'server_max_window_bits=9 with server_no_context_takeover', { serverMaxWindowBits: 9, serverNoContextTakeover: true }, 'server'),
  paramCase('13.5.2', 'client_max_window_bits=9 with client_no_context_takeover', { clientMaxWindowBits: 9, clientNoContextTakeover: true }),
  paramCase('13.5.3', 'every parameter at once, windows 10', {
    serverNoContextTakeover: true,
    clientNoContextTakeover: true,
    serverMaxWindowBits: 10,
    clientMaxWindowBits: 10,
  }, 'server'),
  paramCase('13.5.4', 'no context takeover both ways with client_max_window_bits=10', {
    serverNoContextTakeover: true,
    clientNoContextTakeover: true,
    clientMaxWindowBits: 10,
  }),
];
