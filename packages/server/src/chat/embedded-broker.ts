/**
 * The embedded broker: the single-process {@link Broker}. Messages go to
 * SQLite first (the {@link HistoryStore}), then synchronously to the room's
 * listeners, so listeners see ids in increasing order and a message is
 * never delivered without being stored. Presence lives in memory
 * ({@link LocalPresence}): a process restart empties every room anyway.
 */
import type { Broker, BrokerState, ChatMessage, MessageListener, PresenceListener, PresenceWatch, RemovalListener, UsersPage } from './broker.js';
import { HistoryStore } from './history-store.js';
import { LocalPresence } from './local-presence.js';
import type { PageRequest } from './names.js';

/** Settings of an {@link EmbeddedBroker}. */
export interface EmbeddedBrokerOptions {
  /** Directory of the SQLite history, created if missing. Unset: `./data`. */
  dataDir?: string;
  /** Messages kept per room. Unset: 100. */
  historySize?: number;
  /** Called with a line when a listener throws; unset: ignored. */
  log?: (line: string) => void;
}

/** EmbeddedBroker implements {@link Broker} within one process over a {@link HistoryStore}. */
export class EmbeddedBroker implements Broker {
  readonly #store: HistoryStore;
  readonly #log: (line: string) => void;
  readonly #listeners = new Map<string, Set<MessageListener>>();
  readonly #presence: LocalPresence;
  readonly #removals = new Set<RemovalListener>();
  #state: BrokerState = 'ready';

  /** Opens the history store; throws a readable Error when the data directory is unusable. */
  constructor(options: EmbeddedBrokerOptions = {}) {
    this.#store = new HistoryStore(options.dataDir ?? './data', { keep: options.historySize ?? 100 });
    this.#log = options.log ?? (() => {});
    this.#presence = new LocalPresence((err) => this.#log(`chat broker: presence listener failed: ${errorText(err)}`));
  }

  /** `ready` until closed; the embedded store has no remote side to lose. */
  get state(): BrokerState {
    return this.#state;
  }

  async publish(room: string, from: string, text: string): Promise<ChatMessage> {
    this.#assertOpen('publish');
    const message = this.#store.append(room, from, text);
    for (const listener of [...(this.#listeners.get(room) ?? [])]) {
      this.#call(() => listener(message));
    }
    return message;
  }

  async subscribe(room: string, listener: MessageListener): Promise<() => void> {
    this.#assertOpen('subscribe');
    return addTo(this.#listeners, room, listener);
  }

  async history(room: string, options: { since?: string; limit: number }): Promise<ChatMessage[]> {
    this.#assertOpen('read history');
    return this.#store.history(room, options);
  }

  async join(room: string, name: string, memberId: string): Promise<void> {
    this.#assertOpen('join');
    this.#presence.join(room, name, memberId);
  }

  async leave(room: string, _name: string, memberId: string): Promise<void> {
    this.#presence.leave(room, memberId);
  }

  async watchPresence(room: string, listener: PresenceListener): Promise<PresenceWatch> {
    this.#assertOpen('watch presence');
    return this.#presence.watch(room, listener);
  }

  async users(room: string, request: PageRequest): Promise<UsersPage> {
    return this.#presence.users(room, request);
  }

  async isOnline(room: string, name: string): Promise<boolean> {
    return this.#presence.isOnline(room, name);
  }

  /** removeMember calls the removal listeners at once: this process is the whole cluster. */
  async removeMember(room: string, name: string): Promise<void> {
    this.#assertOpen('remove a member');
    for (const listener of [...this.#removals]) this.#call(() => listener(room, name));
  }

  watchRemovals(listener: RemovalListener): () => void {
    this.#removals.add(listener);
    return () => void this.#removals.delete(listener);
  }

  /** close checkpoints and closes the history; later calls do nothing. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#listeners.clear();
    this.#presence.clear();
    this.#removals.clear();
    this.#store.close();
  }

  #call(fn: () => void): void {
    // One faulty listener must not stop delivery to the others.
    try {
      fn();
    } catch (err) {
      this.#log(`chat broker: listener failed: ${errorText(err)}`);
    }
  }

  #assertOpen(action: string): void {
    if (this.#state === 'closed') throw new Error(`Cannot ${action}: the chat broker is closed`);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function addTo<T>(map: Map<string, Set<T>>, room: string, item: T): () => void {
  let set = map.get(room);
  if (!set) map.set(room, (set = new Set()));
  set.add(item);
  return () => {
    const current = map.get(room);
    if (!current) return;
    current.delete(item);
    if (current.size === 0) map.delete(room);
  };
}
