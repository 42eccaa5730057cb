/**
 * The browser-style side of wskit/ws's WebSocket: `addEventListener`,
 * `removeEventListener` and the `on{open,message,error,close}` attributes,
 * layered on the EventEmitter events as ws has them. Listeners receive
 * {@link WsEvent}s: `MessageEvent`-, `CloseEvent`- and `ErrorEvent`-like
 * objects with `type` and `target`.
 */
import type { EventEmitter } from 'node:events';

/** A listener object or function, as `addEventListener` takes it. */
export type EventListenerLike<E> =
  | ((this: unknown, event: E) => unknown)
  | {
      /** Called with the event, `this` being the listener object. */
      handleEvent(event: E): unknown;
    };

/** The base event: its `type` and the WebSocket it came from. */
export class WsEvent {
  /** The event's name: 'open', 'message', 'error' or 'close'. */
  readonly type: string;
  /** The WebSocket that emitted the event. */
  target: unknown = null;
  constructor(type: string) {
    this.type = type;
  }
}

/** A received message: `data` is a string for text, else per `binaryType`. */
export class WsMessageEvent extends WsEvent {
  /** The message: a string for text; for binary, per the WebSocket's `binaryType`. */
  readonly data: unknown;
  constructor(type: string, init: { data?: unknown } = {}) {
    super(type);
    this.data = init.data ?? null;
  }
}

/** The end of a connection: the close code and reason, and whether both close frames were exchanged. */
export class WsCloseEvent extends WsEvent {
  /** The close code (1005 when the close frame had none, 1006 when none came). */
  readonly code: number;
  /** The close reason, possibly empty. */
  readonly reason: string;
  /** True when both close frames were exchanged. */
  readonly wasClean: boolean;
  constructor(type: string, init: { code?: number; reason?: string; wasClean?: boolean } = {}) {
    super(type);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? '';
    this.wasClean = init.wasClean ?? false;
  }
}

/** An error: the Error itself and its message. */
export class WsErrorEvent extends WsEvent {
  /** The error emitted. */
  readonly error: unknown;
  /** Its message. */
  readonly message: string;
  constructor(type: string, init: { error?: unknown; message?: string } = {}) {
    super(type);
    this.error = init.error ?? null;
    this.message = init.message ?? '';
  }
}

/** @internal The WebSocket's "both close frames were exchanged", for CloseEvent.wasClean. */
export const WAS_CLEAN = Symbol('wskit.ws.wasClean');

/** What the wrappers need from the WebSocket they serve. */
interface Target extends EventEmitter {
  readonly [WAS_CLEAN]: boolean;
}

/** The handler a wrapper stands for, and whether it is an `on<event>` attribute. */
const HANDLER = Symbol('wskit.ws.handler');
const ATTRIBUTE = Symbol('wskit.ws.attribute');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Wrapper = ((...args: any[]) => void) & { [HANDLER]?: unknown; [ATTRIBUTE]?: boolean };

function call<E>(handler: EventListenerLike<E>, target: unknown, event: E): void {
  if (typeof handler === 'function') handler.call(target, event);
  else handler.handleEvent.call(handler, event);
}

function makeWrapper(type: string, handler: EventListenerLike<WsEvent>): Wrapper | null {
  switch (type) {
    case 'message':
      return function onMessage(this: Target, data: unknown, isBinary: boolean) {
        const event = new WsMessageEvent('message', { data: isBinary ? data : String(data) });
        event.target = this;
        call(handler, this, event);
      };
    case 'close':
      return function onClose(this: Target, code: number, reason: Buffer) {
        const event = new WsCloseEvent('close', { code, reason: reason.toString(), wasClean: this[WAS_CLEAN] });
        event.target = this;
        call(handler, this, event);
      };
    case 'error':
      return function onError(this: Target, error: unknown) {
        const message = error instanceof Error ? error.message : String(error);
        const event = new WsErrorEvent('error', { error, message });
        event.target = this;
        call(handler, this, event);
      };
    case 'open':
      return function onOpen(this: Target) {
        const event = new WsEvent('open');
        event.target = this;
        call(handler, this, event);
      };
    default:
      return null;
  }
}

/**
 * addEventListener registers `handler` for one of 'open', 'message',
 * 'error' or 'close' (others are ignored, as in ws). A handler already added
 * this way is not added twice. `once` removes it after its first call.
 */
export function addEventListener(
  target: Target,
  type: string,
  handler: EventListenerLike<WsEvent>,
  options: { once?: boolean } = {},
  attribute = false,
): void {
  if (!attribute) {
    for (const listener of target.listeners(type) as Wrapper[]) {
      if (listener[HANDLER] === handler && !listener[ATTRIBUTE]) return;
    }
  }
  const wrapper = makeWrapper(type, handler);
  if (wrapper === null) return;
  wrapper[HANDLER] = handler;
  wrapper[ATTRIBUTE] = attribute;
  if (options.once) target.once(type, wrapper);
  else target.on(type, wrapper);
}

/** removeEventListener removes a handler added with {@link addEventListener}. */
export function removeEventListener(target: Target, type: string, handler: unknown): void {
  for (const listener of target.rawListeners(type) as Wrapper[]) {
    const inner = (listener as { listener?: Wrapper }).listener ?? listener;
    if (inner[HANDLER] === handler && !inner[ATTRIBUTE]) {
      target.removeListener(type, listener as (...args: unknown[]) => void);
      return;
    }
  }
}

/** The current `on<type>` handler, or null. */
export function getAttribute(target: Target, type: string): unknown {
  for (const listener of target.listeners(type) as Wrapper[]) {
    if (listener[ATTRIBUTE]) return listener[HANDLER];
  }
  return null;
}

/** Replace the `on<type>` handler; a non-function clears it. */
export function setAttribute(target: Target, type: string, handler: unknown): void {
  for (const listener of target.listeners(type) as Wrapper[]) {
    if (listener[ATTRIBUTE]) {
      target.removeListener(type, listener as (...args: unknown[]) => void);
      break;
    }
  }
  if (typeof handler !== 'function') return;
  addEventListener(target, type, handler as EventListenerLike<WsEvent>, {}, true);
}
