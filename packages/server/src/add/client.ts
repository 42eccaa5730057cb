/**
 * The add client (`wskit add`): dials the add service, prints the handshake
 * response headers, then sends `count` requests `interval` apart and prints
 * each request and response.
 */
import { CloseCode, dial, HandshakeError } from 'wskit';

/** Settings of {@link runAddClient}. */
export interface AddClientOptions {
  url: string;
  a: number;
  b: number;
  count: number;
  intervalMs: number;
  headers: Record<string, string>;
  out: (line: string) => void;
}

/**
 * runAddClient runs the client and resolves with the process exit code: 0
 * when every request got a sum, 1 otherwise (failed handshake, error answer,
 * connection lost).
 */
export async function runAddClient(options: AddClientOptions): Promise<number> {
  const { out } = options;
  let dialed;
  try {
    dialed = await dial(options.url, { headers: options.headers });
  } catch (err) {
    if (err instanceof HandshakeError) {
      out(`handshake failed: HTTP ${err.status}`);
      if (err.body) out(err.body.trimEnd());
      else out(err.message);
    } else {
      out(`cannot connect to ${options.url}: ${(err as Error).message}`);
    }
    return 1;
  }
  const { conn, response } = dialed;
  out(`HTTP ${response.status}`);
  for (const [name, value] of Object.entries(response.headers)) out(`${name}: ${value}`);
  let failures = 0;
  try {
    for (let i = 0; i < options.count; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
      const request = { A: options.a + i, B: options.b };
      out(`request ${JSON.stringify(request)}`);
      await conn.writeJSON(request);
      const answer = await conn.readJSON<{ Sum?: number; error?: string }>();
      out(`response ${JSON.stringify(answer)}`);
      if (answer.error !== undefined) failures++;
    }
    await conn.close(CloseCode.NormalClosure, 'done');
  } catch (err) {
    out(`connection lost: ${(err as Error).message}`);
    conn.terminate();
    return 1;
  }
  return failures === 0 ? 0 : 1;
}
