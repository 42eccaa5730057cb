/**
 * Test certificates made by the `openssl` command: a throwaway certificate
 * authority and server certificates it signs for `localhost` and
 * `127.0.0.1`, written as PEM files into a temporary directory. Tests trust
 * the CA explicitly (`ca:` in Node, or Chromium ignoring certificate
 * errors), never the system store.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A test CA and where its files are. */
export interface TestCa {
  /** The temporary directory holding every file; {@link TestCa.remove} deletes it. */
  dir: string;
  /** The CA certificate, PEM, for a client's `ca` option. */
  cert: Buffer;
  /**
   * issue makes a server certificate for `localhost`, `127.0.0.1` and `::1`
   * signed by this CA, with `commonName` as its subject (to tell two apart),
   * and returns the paths of its PEM certificate and key.
   */
  issue(commonName: string): { certFile: string; keyFile: string };
  /** Deletes the directory. */
  remove(): void;
}

/** Whether the `openssl` command can be run here. */
export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** createTestCa makes a CA (EC P-256, valid one day) in a new temporary directory. */
export function createTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'wskit-tls-'));
  const caKey = join(dir, 'ca.key');
  const caCert = join(dir, 'ca.crt');
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', caKey, '-out', caCert,
    '-days', '1', '-subj', '/CN=wskit test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  let serial = 0;
  return {
    dir,
    cert: readFileSync(caCert),
    issue(commonName) {
      serial++;
      const keyFile = join(dir, `server-${serial}.key`);
      const csr = join(dir, `server-${serial}.csr`);
      const certFile = join(dir, `server-${serial}.crt`);
      const ext = join(dir, `server-${serial}.ext`);
      writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${commonName}`]);
      openssl(['x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-set_serial', String(serial), '-days', '1', '-out', certFile, '-extfile', ext]);
      return { certFile, keyFile };
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
