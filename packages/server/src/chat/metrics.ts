/**
 * The chat server's Prometheus metrics (prom-client), in a registry of its
 * own so that several chat apps in one process (tests) do not collide.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Conn } from 'wskit';
import type { BrokerState, ReadStats } from './broker.js';

/** What the gauges read when scraped. */
export interface MetricsSources {
  connections(): number;
  rooms(): number;
  brokerState(): BrokerState;
  /** The broker's fan-out read counts; absent for a broker that does not read in batches (embedded). */
  readStats?(): ReadStats;
  /** Replica waits that timed out (Redis broker); absent for a broker that never waits. */
  replicaWaitTimeouts?(): number;
}

/** ChatMetrics holds the counters the app updates and renders `/metrics`. */
export class ChatMetrics {
  /** The registry behind `/metrics`, with the default process metrics. */
  readonly registry = new Registry();
  /** Messages accepted from clients and published. */
  readonly messagesIn: Counter;
  /** Frames sent to clients (messages, history, presence, errors). */
  readonly messagesOut: Counter;
  /** Client frames dropped, by reason (`rate_limit`, `invalid`, `broker`). */
  readonly dropped: Counter<'reason'>;
  /** Clients closed because their send queue was full. */
  readonly evictions: Counter;
  /** Payload bytes received from clients. */
  readonly bytesIn: Counter;
  /** Payload bytes queued to clients. */
  readonly bytesOut: Counter;
  /**
   * WebSocket connections opened on every route, by how they came: `h1`, an
   * HTTP/1.1 upgrade with a TCP connection of its own, or `h2`, a stream of
   * an HTTP/2 connection (RFC 8441).
   */
  readonly webSockets: Counter<'protocol'>;
  /** WebSocket connections open now, by protocol as {@link webSockets}. */
  readonly #openWebSockets = { h1: 0, h2: 0 };
  /** Frames and bytes sent since the last scrape: counted as plain numbers because a broadcast counts once per member. */
  #pendingFramesOut = 0;
  #pendingBytesOut = 0;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'wskit_chat_connections',
      help: 'Open chat WebSocket connections.',
      registers,
      collect() {
        this.set(sources.connections());
      },
    });
    new Gauge({
      name: 'wskit_chat_rooms',
      help: 'Rooms with at least one member on this node.',
      registers,
      collect() {
        this.set(sources.rooms());
      },
    });
    new Gauge({
      name: 'wskit_chat_broker_up',
      help: '1 when the broker is ready, 0 when degraded or closed.',
      registers,
      collect() {
        this.set(sources.brokerState() === 'ready' ? 1 : 0);
      },
    });
    this.webSockets = new Counter({
      name: 'wskit_websocket_connections_total',
      help: 'WebSocket connections opened on every route, by protocol: h1 (HTTP/1.1 upgrade) or h2 (HTTP/2 stream, RFC 8441).',
      labelNames: ['protocol'] as const,
      registers,
    });
    const open = this.#openWebSockets;
    new Gauge({
      name: 'wskit_websocket_connections_open',
      help: 'WebSocket connections open now on every route, by protocol: h1 or h2.',
      labelNames: ['protocol'] as const,
      registers,
      collect() {
        this.set({ protocol: 'h1' }, open.h1);
        this.set({ protocol: 'h2' }, open.h2);
      },
    });
    this.messagesIn = new Counter({ name: 'wskit_chat_messages_in_total', help: 'Chat messages received and published.', registers });
    this.messagesOut = scrapedCounter('wskit_chat_messages_out_total', 'Frames queued to chat clients.', registers, () => {
      const frames = this.#pendingFramesOut;
      this.#pendingFramesOut = 0;
      return frames;
    });
    this.dropped = new Counter({
      name: 'wskit_chat_messages_dropped_total',
      help: 'Client frames answered with an error frame, by reason.',
      labelNames: ['reason'] as const,
      registers,
    });
    this.evictions = new Counter({ name: 'wskit_chat_evictions_total', help: 'Clients closed because their send queue was full.', registers });
    this.bytesIn = new Counter({ name: 'wskit_chat_bytes_in_total', help: 'Payload bytes received from chat clients.', registers });
    this.bytesOut = scrapedCounter('wskit_chat_bytes_out_total', 'Payload bytes queued to chat clients.', registers, () => {
      const bytes = this.#pendingBytesOut;
      this.#pendingBytesOut = 0;
      return bytes;
    });
    const readStats = sources.readStats;
    if (readStats) {
      // Counters that follow the broker's own totals: each scrape adds what they grew by.
      let seen = { batches: 0, messages: 0 };
      const growth = (key: 'batches' | 'messages') => () => {
        const now = readStats();
        const grown = now[key] - seen[key];
        seen = { ...seen, [key]: now[key] };
        return grown;
      };
      scrapedCounter('wskit_chat_broker_read_batches_total', 'Broker fan-out reads (XREAD replies) that carried messages; messages_total divided by this is the mean batch size.', registers, growth('batches'));
      scrapedCounter('wskit_chat_broker_read_messages_total', 'Messages carried by the broker fan-out reads.', registers, growth('messages'));
      new Gauge({
        name: 'wskit_chat_broker_fanout_lag_ms',
        help: 'Largest fan-out lag of a room on this node: the newest message id it knows of (its own publishes, its reads) minus the last id it delivered, in ms of the ids\' time parts; 0 when caught up.',
        registers,
        collect() {
          this.set(readStats().lagMs ?? 0);
        },
      });
    }
    const waitTimeouts = sources.replicaWaitTimeouts;
    if (waitTimeouts) {
      let seen = 0;
      scrapedCounter('wskit_chat_broker_replica_wait_timeouts_total', 'Replica waits (Redis WAIT, --redis-replicas) that returned fewer replicas than required; their messages were refused.', registers, () => {
        const now = waitTimeouts();
        const grown = now - seen;
        seen = now;
        return grown;
      });
    }
  }

  /**
   * countWebSocket counts `conn` as opened, and as open under its protocol:
   * until it closes, or with `untilClosed` false until {@link uncountWebSocket}.
   */
  countWebSocket(conn: Conn, untilClosed = true): void {
    const protocol = conn.httpVersion === '2' ? 'h2' : 'h1';
    this.webSockets.inc({ protocol });
    this.#openWebSockets[protocol]++;
    if (untilClosed) void conn.closed.then(() => this.uncountWebSocket(conn));
  }

  /** uncountWebSocket counts `conn` as no longer open. */
  uncountWebSocket(conn: Conn): void {
    this.#openWebSockets[conn.httpVersion === '2' ? 'h2' : 'h1']--;
  }

  /** countOut records one frame of `bytes` payload bytes sent to a client (added to the counters at the next scrape). */
  countOut(bytes: number): void {
    this.#pendingFramesOut++;
    this.#pendingBytesOut += bytes;
  }
}

/** A counter that adds what `take` returns (the count since the last scrape) each time it is scraped. */
function scrapedCounter(name: string, help: string, registers: Registry[], take: () => number): Counter {
  return new Counter({
    name,
    help,
    registers,
    collect() {
      this.inc(take());
    },
  });
}
