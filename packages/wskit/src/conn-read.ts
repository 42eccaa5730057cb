/**
 * The reading side of a {@link Conn}: received messages wait in an inbox
 * until a reader takes them, in order. Once the inbox holds more than the
 * read buffer size the socket is paused, so TCP pushes back on a sender
 * faster than its reader; it resumes at half that. `for await` reads through
 * {@link MessageIterator}.
 */
import { CloseCode } from './constants.js';
import type { Message } from './conn.js';
import type { ConnState } from './conn-state.js';
import { CloseError } from './errors.js';

/**
 * Reader is a pending read. `iterate` readers come from `for await` and get
 * iterator results straight away, so a waiting loop costs one promise, not a chain.
 */
export type Reader = { resolve: (value: Message | IteratorResult<Message>) => void; reject: (err: Error) => void; iterate: boolean };

const DONE: IteratorResult<Message> = Object.freeze({ value: undefined, done: true });
const NORMAL_CLOSES: ReadonlySet<number> = new Set([
  CloseCode.NormalClosure,
  CloseCode.GoingAway,
  CloseCode.NoStatusReceived,
]);

/** `for await` ends quietly after a normal close; any other end is thrown. */
function endsIteration(err: Error): boolean {
  return err instanceof CloseError && NORMAL_CLOSES.has(err.closeCode);
}

/** read takes the next message, or waits for one; `iterate` gives an iterator result instead. */
export function read(c: ConnState, iterate: boolean): Promise<Message | IteratorResult<Message>> {
  const message = c.inbox.shift();
  if (message !== undefined) {
    if (c.inbox.length === 0) c.inbox.length = 0; // Spare room back, as in conn-receive.ts drainEvents.
    c.inboxBytes -= message.data.length;
    if (c.paused && c.inboxBytes <= c.settings.readBufferSize / 2) {
      c.paused = false;
      c.socket.resume();
    }
    return Promise.resolve(iterate ? { value: message, done: false } : message);
  }
  if (c.terminal) {
    return iterate && endsIteration(c.terminal) ? Promise.resolve(DONE) : Promise.reject(c.terminal);
  }
  return new Promise((resolve, reject) => {
    const reader: Reader = { resolve, reject, iterate };
    if (c.reader === null) c.reader = reader;
    else (c.moreReaders ??= []).push(reader);
  });
}

function takeReader(c: ConnState): Reader | null {
  const reader = c.reader;
  c.reader = c.moreReaders?.shift() ?? null;
  return reader;
}

/** deliver hands a message to the first waiting reader, or queues it (pausing the socket past the read buffer). */
export function deliver(c: ConnState, message: Message): void {
  // ws delivers every message it has read, even once the connection is closing.
  if (c.sink !== null) return c.sink.message(message.type, message.data);
  if (c.closeSent && c.terminal) return;
  const reader = takeReader(c);
  if (reader) return reader.resolve(reader.iterate ? { value: message, done: false } : message);
  c.inbox.push(message);
  c.inboxBytes += message.data.length;
  if (!c.paused && c.inboxBytes > c.settings.readBufferSize) {
    // Nobody is reading fast enough: stop reading so TCP pushes back on the sender.
    c.paused = true;
    c.socket.pause();
  }
}

/**
 * rejectReaders ends every waiting read with `c.terminal` (a `for await`
 * after a normal close just ends). Queued messages come first: while any
 * remain, nobody waits.
 */
export function rejectReaders(c: ConnState): void {
  if (c.inbox.length > 0) return;
  const err = c.terminal!;
  const done = endsIteration(err);
  for (let reader = takeReader(c); reader !== null; reader = takeReader(c)) {
    if (reader.iterate && done) reader.resolve(DONE);
    else reader.reject(err);
  }
}

/** MessageIterator is the `for await` iterator of a Conn: one small object per loop, its methods shared. */
export class MessageIterator implements AsyncIterator<Message> {
  readonly #state: ConnState;
  constructor(state: ConnState) {
    this.#state = state;
  }
  next(): Promise<IteratorResult<Message>> {
    return read(this.#state, true) as Promise<IteratorResult<Message>>;
  }
  return(): Promise<IteratorResult<Message>> {
    return Promise.resolve(DONE);
  }
}
