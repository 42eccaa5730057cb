/**
 * Prints the functions with the most self time in a V8 .cpuprofile (as
 * written by `node --cpu-prof`, or by `BENCH_CPU_PROF=DIR npm run bench`):
 * `node dist/bench/profile-summary.js FILE [N]`.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topText] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node dist/bench/profile-summary.js FILE.cpuprofile [N]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<string, number>();
let total = 0;
profile.samples.forEach((id, i) => {
  const frame = byId.get(id)!.callFrame;
  // Idle time says nothing about where the work goes; shares are of busy time.
  if (frame.functionName === '(idle)') return;
  const where = frame.url ? `${relative(process.cwd(), frame.url.replace('file://', ''))}:${frame.lineNumber + 1}` : '';
  const key = `${frame.functionName || '(anonymous)'} ${where}`.trim();
  const dt = profile.timeDeltas[i] ?? 0;
  self.set(key, (self.get(key) ?? 0) + dt);
  total += dt;
});
const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(topText ?? 25));
for (const [key, us] of top) process.stdout.write(`${((us / total) * 100).toFixed(1).padStart(5)} %  ${key}\n`);
