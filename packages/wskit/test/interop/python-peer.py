"""Python `websockets` peer for wskit's interop tests (Debian python3-websockets,
asyncio API, works from version 10).

  python-peer.py client URL COMPRESSION SAMPLES
      Connects to URL (COMPRESSION: deflate or none), sends each sample
      ("text:125,binary:65536,..."), checks each echo, then closes with 4001.
      A second connection sends "close-me" and reports how the server closed.
  python-peer.py server COMPRESSION
      Serves an echo on 127.0.0.1, port 0; "close-me" makes it close with 4003.
      Runs until its standard input closes.

Every report is one JSON object per line on stdout.
"""

import asyncio
import base64
import hashlib
import json
import os
import sys

import websockets

MAX_SIZE = 32 * 1024 * 1024
WIDE = "é€😀".encode("utf-8")


def report(**fields):
    print(json.dumps(fields), flush=True)


def sha256(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def make_payload(kind, size):
    """Random bytes, or random text of exactly `size` UTF-8 bytes with multi-byte characters."""
    if kind == "binary":
        return os.urandom(size)
    raw = bytearray(base64.b64encode(os.urandom(size))[:size])
    for at in range(0, size - len(WIDE), 997):
        raw[at : at + len(WIDE)] = WIDE
    return raw.decode("utf-8")


def compression_arg(name):
    return "deflate" if name == "deflate" else None


def extension_names(ws):
    return [ext.name for ext in ws.extensions]


def close_of(exc, ws):
    rcvd = getattr(exc, "rcvd", None)
    if rcvd is not None:
        return rcvd.code, rcvd.reason
    return ws.close_code, ws.close_reason


async def run_client(url, compression, samples):
    async with websockets.connect(
        url, compression=compression_arg(compression), max_size=MAX_SIZE, ping_interval=None, close_timeout=5
    ) as ws:
        report(event="open", extensions=extension_names(ws))
        for sample in samples.split(","):
            kind, size = sample.split(":")
            data = make_payload(kind, int(size))
            await ws.send(data)
            echo = await ws.recv()
            report(
                event="echo",
                type=kind,
                size=int(size),
                sent=sha256(data),
                received=sha256(echo),
                echo_type="text" if isinstance(echo, str) else "binary",
                equal=echo == data,
            )
        await ws.close(4001, "bye from python")
        report(event="closed", code=ws.close_code, reason=ws.close_reason)
    async with websockets.connect(url, compression=compression_arg(compression), ping_interval=None) as ws:
        await ws.send("close-me")
        try:
            await ws.recv()
            report(event="error", message="server sent a message instead of closing")
        except websockets.ConnectionClosed as exc:
            code, reason = close_of(exc, ws)
            report(event="server-closed", code=code, reason=reason)


async def echo_handler(ws, *_):
    report(event="open", extensions=extension_names(ws))
    try:
        async for message in ws:
            if message == "close-me":
                await ws.close(4003, "bye from python")
                break
            report(
                event="received",
                type="text" if isinstance(message, str) else "binary",
                size=len(message.encode("utf-8")) if isinstance(message, str) else len(message),
                sha256=sha256(message),
            )
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass
    await ws.wait_closed()
    report(event="closed", code=ws.close_code, reason=ws.close_reason)


async def run_server(compression):
    async with websockets.serve(
        echo_handler, "127.0.0.1", 0, compression=compression_arg(compression), max_size=MAX_SIZE, ping_interval=None
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        report(event="listening", port=port)
        # Serve until the test closes our standard input (or kills us).
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def main(argv):
    if len(argv) >= 4 and argv[0] == "client":
        asyncio.run(run_client(argv[1], argv[2], argv[3]))
    elif len(argv) >= 2 and argv[0] == "server":
        asyncio.run(run_server(argv[1]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
