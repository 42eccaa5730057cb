/**
 * graphql-ws on wskit/ws: graphql-ws's `useServer` on a wskit/ws
 * WebSocketServer, and graphql-ws's `createClient` using wskit/ws's
 * WebSocket as its `webSocketImpl`. A query, and a subscription that streams
 * 100 events in order and completes.
 *
 * `npm test` runs wskit/ws only; `WSKIT_WS_IMPLS=ws,wskit/ws` runs the same
 * tests on the npm `ws` package too, which shows that they expect what ws does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GraphQLInt, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql';
import { createClient, type Client, type FormattedExecutionResult } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type * as ws from 'ws';
import { listen, selectedImplementations, withTimeout, wskitWs, type HttpServer, type WsModule } from '../implementations.js';

const WAIT_MS = 5_000;

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: 'Query',
    fields: {
      greeting: {
        type: new GraphQLNonNull(GraphQLString),
        args: { name: { type: new GraphQLNonNull(GraphQLString) } },
        resolve: (_source, args: { name: string }) => `Hello, ${args.name}!`,
      },
    },
  }),
  subscription: new GraphQLObjectType({
    name: 'Subscription',
    fields: {
      count: {
        type: new GraphQLNonNull(GraphQLInt),
        args: { to: { type: new GraphQLNonNull(GraphQLInt) } },
        async *subscribe(_source, args: { to: number }) {
          for (let n = 1; n <= args.to; n++) {
            // A turn of the event loop between events, so they go out as separate writes.
            await new Promise((resolve) => setImmediate(resolve));
            yield { count: n };
          }
        },
      },
    },
  }),
});

/** run collects every result of one operation until it completes, failing on an error. */
function run<T>(client: Client, query: string): Promise<FormattedExecutionResult<T, unknown>[]> {
  return withTimeout(
    new Promise<FormattedExecutionResult<T, unknown>[]>((resolve, reject) => {
      const results: FormattedExecutionResult<T, unknown>[] = [];
      client.subscribe<T>(
        { query },
        {
          next: (result) => results.push(result),
          error: (err) => reject(err instanceof Error ? err : new Error(`graphql-ws failed: ${JSON.stringify(err)}`)),
          complete: () => resolve(results),
        },
      );
    }),
    WAIT_MS,
    `the operation ${query}`,
  );
}

function suite(mod: WsModule): void {
  let http: HttpServer;
  let wss: ws.WebSocketServer;
  let disposeServer: () => void | Promise<void>;
  let client: Client;

  before(async () => {
    http = await listen();
    wss = new mod.WebSocketServer({ server: http.server, path: '/graphql' });
    disposeServer = useServer({ schema }, wss).dispose;
    client = createClient({
      url: `ws://127.0.0.1:${http.port}/graphql`,
      webSocketImpl: mod.WebSocket,
      retryAttempts: 0,
      lazy: true,
    });
  });

  after(async () => {
    await client.dispose();
    await disposeServer();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    await http.stop();
  });

  test('graphql-ws answers a query', async () => {
    const results = await run<{ greeting: string }>(client, '{ greeting(name: "wskit") }');
    assert.deepEqual(results, [{ data: { greeting: 'Hello, wskit!' } }]);
    assert.ok([...wss.clients].every((socket) => socket instanceof mod.WebSocket), 'a connection is not a WebSocket of the module under test');
  });

  test('graphql-ws streams 100 subscription events in order, then completes', async () => {
    const results = await run<{ count: number }>(client, 'subscription { count(to: 100) }');
    assert.deepEqual(
      results.map((r) => r.data?.count),
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    assert.ok(results.every((r) => r.errors === undefined));
  });
}

for (const impl of selectedImplementations([wskitWs])) {
  const mod = await impl.load().catch((err: unknown) => err as Error);
  if (mod instanceof Error) {
    // A module that fails to load is a broken build, not a missing feature.
    test(`graphql-ws on ${impl.name} loads`, () => {
      throw mod;
    });
    continue;
  }
  if ('missing' in mod) {
    test(`graphql-ws on ${impl.name}`, { todo: mod.missing });
    continue;
  }
  describe(`graphql-ws on ${impl.name}`, { timeout: 30_000 }, () => suite(mod));
}
