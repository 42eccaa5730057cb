/**
 * Protocol constants and default limits. Each fact is defined here once; the
 * rest of wskit imports it from this file.
 */

/** The GUID that RFC 6455 §1.3 appends to Sec-WebSocket-Key before hashing. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Frame opcodes (RFC 6455 §5.2). */
export const Opcode = {
  /** 0x0: a later frame of a fragmented message. */
  Continuation: 0x0,
  /** 0x1: the first frame of a UTF-8 text message. */
  Text: 0x1,
  /** 0x2: the first frame of a binary message. */
  Binary: 0x2,
  /** 0x8: the closing handshake (§5.5.1). */
  Close: 0x8,
  /** 0x9: a ping, answered with a pong (§5.5.2). */
  Ping: 0x9,
  /** 0xA: a pong, the answer to a ping or a unilateral heartbeat (§5.5.3). */
  Pong: 0xa,
} as const;
/** A frame opcode. */
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** The two kinds of data message. */
export const MessageType = {
  /** A text message: UTF-8, checked as it arrives. */
  Text: 'text',
  /** A binary message: any bytes. */
  Binary: 'binary',
} as const;
/** `'text'` or `'binary'`. */
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Close status codes (RFC 6455 §7.4.1 and the IANA registry). */
export const CloseCode = {
  /** 1000: the purpose of the connection was fulfilled. */
  NormalClosure: 1000,
  /** 1001: the endpoint is going away (server shutdown, page navigation). */
  GoingAway: 1001,
  /** 1002: the peer broke the protocol. */
  ProtocolError: 1002,
  /** 1003: a message type the endpoint cannot accept. */
  UnsupportedData: 1003,
  /** 1005: no status code was present (never sent on the wire). */
  NoStatusReceived: 1005,
  /** 1006: the connection closed without a closing handshake (never sent on the wire). */
  AbnormalClosure: 1006,
  /** 1007: a message's data was inconsistent with its type (bad UTF-8). */
  InvalidPayloadData: 1007,
  /** 1008: a message violated the endpoint's policy. */
  PolicyViolation: 1008,
  /** 1009: a message was too big to process. */
  MessageTooBig: 1009,
  /** 1010: the client expected an extension the server did not negotiate. */
  MandatoryExtension: 1010,
  /** 1011: the server met an unexpected condition. */
  InternalServerError: 1011,
  /** 1012: the service is restarting. */
  ServiceRestart: 1012,
  /** 1013: try again later (overload). */
  TryAgainLater: 1013,
  /** 1015: the TLS handshake failed (never sent on the wire). */
  TLSHandshake: 1015,
} as const;
/** A close status code. */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Default limits and timings, shared by server, client and apps. */
export const Defaults = {
  /** Largest message accepted, after decompression: 1 MiB. */
  maxMessageSize: 1024 * 1024,
  /**
   * Most frames one data message may have (its first frame and continuations,
   * empty ones included): 16,384, as ws 8.23. Empty fragments cost no memory,
   * but a message of endless ones would never end; past the limit: close 1009.
   * Legitimate senders stay far below it: browsers send a message as one
   * frame, gorilla/websocket fragments at its 4 KiB write buffer (256 frames
   * per MiB) and Python's websockets one frame per chunk it is given. To be
   * stopped by this limit before the 1 MiB size limit, fragments must average
   * under 64 bytes. Raise it with the size limit when small fragments are
   * expected (Autobahn's 9.3.1 sends 4 MiB in 65,536 fragments of 64 bytes).
   */
  maxFragments: 16 * 1024,
  /** Time allowed for the opening handshake. */
  handshakeTimeoutMs: 10_000,
  /** Largest HTTP request or response head accepted during the handshake. */
  maxHeaderSize: 16 * 1024,
  /** Time the closing handshake may take before the TCP connection is dropped. */
  closeTimeoutMs: 5_000,
  /** Size of each socket read (advisory; Node chooses its own chunk size). */
  readBufferSize: 64 * 1024,
  /** High-water mark of the outgoing buffer: `write` waits while more is queued. */
  writeBufferSize: 64 * 1024,
  /** Messages smaller than this are sent uncompressed even with permessage-deflate. */
  compressionThreshold: 1024,
  /**
   * A server compresses each message on its own (server_no_context_takeover):
   * no zlib state of hundreds of KiB kept per connection, and small messages
   * compressed at once instead of through the thread pool. The ratio is worse
   * for runs of similar messages; `compression: { noContextTakeover: false }`
   * keeps the context.
   */
  serverNoContextTakeover: true,
} as const;

/** Longest payload of a control frame (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/**
 * @internal RST_STREAM's CANCEL error code (RFC 9113 §7): how a WebSocket on
 * an HTTP/2 stream is dropped, standing for TCP's RST (RFC 8441 §5), and how
 * a dial gives up a stream it no longer wants.
 */
export const RST_CANCEL = 0x8;
