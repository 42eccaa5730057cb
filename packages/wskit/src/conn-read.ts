/**
 * The reading side of a {@link Conn}: received messages wait in an inbox
 * until a reader takes them, in order. Once the inbox holds more than the
 * read buffer size the socket is paused, so TCP pushes back on a sender
 * faster than its reader; it resumes at half that. `for await` reads through
 * {@link MessageIterator}.
 *
 * A handler set with `Conn.onMessage` is the other way to read: each
 * message is handed to it as it arrives, with nothing suspended between
 * messages. While a promise it returned is pending, messages wait in the
 * inbox as they would for a `for await` body that awaits, with the same
 * pause and resume.
 */
import { CloseCode } from './constants.js';
import type { EndHandler, Message, MessageHandler } from './conn.js';
import type { ConnState } from './conn-state.js';
import { RESOLVED } from './conn-write.js';
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

/** Take the oldest queued message, resuming the socket once the inbox is down to half the read buffer. */
function takeQueued(c: ConnState): Message | undefined {
  const inbox = c.inbox;
  if (inbox === null) return undefined;
  const message = inbox.shift()!;
  if (inbox.length === 0) c.inbox = null;
  c.inboxBytes -= message.data.length;
  if (c.paused && c.inboxBytes <= c.settings.readBufferSize / 2) {
    c.paused = false;
    c.socket.resume();
  }
  return message;
}

/** read takes the next message, or waits for one; `iterate` gives an iterator result instead. */
export function read(c: ConnState, iterate: boolean): Promise<Message | IteratorResult<Message>> {
  if (c.handler !== null) return Promise.reject(new Error('Cannot read: messages go to the handler set with onMessage'));
  const message = takeQueued(c);
  if (message !== undefined) return Promise.resolve(iterate ? { value: message, done: false } : message);
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
  if (c.handler !== null && !c.handling) return handle(c, message);
  const reader = takeReader(c);
  if (reader) return reader.resolve(reader.iterate ? { value: message, done: false } : message);
  (c.inbox ??= []).push(message);
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
  if (c.inbox !== null) return;
  const err = c.terminal!;
  const done = endsIteration(err);
  if (c.handler !== null && !c.handling) return endHandler(c, done ? null : err);
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

/**
 * listen is `Conn.onMessage`: from now on messages go to `handler`, those
 * already queued first (in a microtask, so never inside the call), and
 * `onEnd` hears when none will come any more.
 */
export function listen(c: ConnState, handler: MessageHandler, onEnd: EndHandler | null): void {
  if (c.handler !== null) throw new Error('Cannot set a message handler: one is set already');
  if (c.reader !== null) throw new Error('Cannot set a message handler while a read is waiting');
  c.handler = handler;
  c.onEnd = onEnd;
  if (c.inbox === null && c.terminal === null) return;
  c.handling = true;
  queueMicrotask(() => handled(c));
}

/**
 * Hand one message to the handler. A returned promise holds later messages
 * back until it settles; a write that was taken at once returns the shared
 * resolved promise, which holds nothing back, so an echo costs no promise
 * reaction per message.
 */
function handle(c: ConnState, message: Message): void {
  let result: void | PromiseLike<void>;
  try {
    result = c.handler!(message, c.conn);
  } catch (err) {
    return handlerFailed(c, err);
  }
  if (result === undefined || result === RESOLVED || typeof (result as PromiseLike<void> | null)?.then !== 'function') return;
  c.handling = true;
  (result as PromiseLike<void>).then(
    () => handled(c),
    (err: unknown) => handlerFailed(c, err),
  );
}

/** The handler's promise settled: hand it what queued meanwhile, then the end if it came. */
function handled(c: ConnState): void {
  c.handling = false;
  while (c.handler !== null && !c.handling) {
    const message = takeQueued(c);
    if (message === undefined) break;
    handle(c, message);
  }
  if (c.handler !== null && !c.handling && c.terminal !== null && c.inbox === null) {
    endHandler(c, endsIteration(c.terminal) ? null : c.terminal);
  }
}

/** The handler threw or its promise rejected: it gets nothing more, as a `for await` left by a throw; `onEnd` hears why. */
function handlerFailed(c: ConnState, err: unknown): void {
  c.handling = false;
  endHandler(c, err instanceof Error ? err : new Error(String(err), { cause: err }), true);
}

/** No more messages for the handler: forget it and tell `onEnd` (with no `onEnd`, a handler's own error is thrown, as an unhandled rejection would be). */
function endHandler(c: ConnState, err: Error | null, thrown = false): void {
  const onEnd = c.onEnd;
  c.handler = null;
  c.onEnd = null;
  if (onEnd !== null) onEnd(err, c.conn);
  else if (thrown) {
    process.nextTick(() => {
      throw err;
    });
  }
}
