/**
 * The server's log sink: every line it logs starts with an ISO 8601 UTC
 * timestamp, added here so no call site formats one.
 */

/**
 * timestampedLog returns a log function that writes each line to `write`
 * (unset: `console.log`) prefixed with the time from `now` (unset: the
 * clock) in ISO 8601 UTC and a space: `2026-12-03T08:40:01.123Z open /echo 127.0.0.1:51234`.
 */
export function timestampedLog(
  write: (text: string) => void = (text) => console.log(text),
  now: () => Date = () => new Date(),
): (line: string) => void {
  return (line) => write(`${now().toISOString()} ${line}`);
}
