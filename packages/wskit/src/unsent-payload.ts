/**
 * UnsentPayload: the payload bytes a connection has accepted but not yet
 * handed to the kernel, frame headers not counted. It is what the browser
 * standard's `bufferedAmount` reports (WHATWG WebSockets: "bytes of
 * application data ... queued using send() but not yet transmitted"), which
 * the socket's own count cannot give: that counts headers and masks too.
 */

/**
 * @internal UnsentPayload counts for one connection, from the moment `write`
 * takes a message until the socket's write callback for its frame. A
 * connection keeps one only when asked (`countUnsentPayload` in conn.ts), so
 * connections used without the browser-style WebSocket pay nothing.
 */
export class UnsentPayload {
  /** Payload bytes accepted by `write` and not yet handed to the kernel: before compression, text as UTF-8. */
  bytes = 0;
  /** The sizes of data frames on the socket, oldest first; write callbacks run in write order. */
  readonly #inFlight: number[] = [];
  /** The write callback of every counted frame; an error means the bytes never left, so they stay counted. */
  readonly #written = (err?: Error | null): void => {
    const size = this.#inFlight.shift()!;
    if (!err) this.bytes -= size;
  };

  /** track notes a frame carrying `size` payload bytes as written to the socket and gives its write callback. */
  track(size: number): (err?: Error | null) => void {
    this.#inFlight.push(size);
    return this.#written;
  }
}
