/*
 * A load generator for the echo rows, in C so that it costs far less per
 * message than either server: one epoll loop, pre-encoded masked frames, a
 * frame reader that skips payloads, and one write(2) per message, as a
 * browser or the ws client sends them. bench/load/echo-worker.ts starts it
 * (`--gen native`, the default when a C compiler is present) and drives it
 * over stdin/stdout with one-line commands:
 *
 *   go      start sending: `inflight` messages per connection, a new one per echo
 *   count   -> "count <total> <echoes>"
 *   mark    start a measured window (echoes, latency histogram, CPU time)
 *   stop    stop sending -> "stop <echoes> <elapsed_us> <cpu_us> <errors> <bucket:count,...>"
 *   close   close every connection and exit
 *
 * Usage: native-client PORT PATH|- CONNS SIZE INFLIGHT BODY_FILE COMPRESSED_FILE|-
 * It connects only to 127.0.0.1. A PATH of "-" loads a plain TCP echo server
 * instead (the ceiling rows): no handshake or framing, an echo being SIZE
 * bytes back. On start-up it prints "ready <deflate 0|1>"
 * once every handshake has succeeded, or "error <reason>" and exits 1.
 * The latency histogram uses bench/stats.ts's buckets (2 % steps from 1 µs).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#define VARIANTS 4
#define BUCKETS 1000
#define READ_SIZE (256 * 1024)
#define HANDSHAKE_LIMIT 16384

typedef struct {
  int fd;
  /* Frames waiting to go out (whole messages), and how far into the first one we are. */
  long queued;
  size_t offset;
  unsigned next_variant;
  double sent_at_us;
  /* Frame reader state. */
  unsigned char head[14];
  int head_len;
  int head_need;
  uint64_t remaining;
  int opcode;
  int fin;
  int rsv1;
  uint64_t message_length;
  int message_compressed;
  unsigned char control[125];
  int control_len;
  int want_out;
  /* Plain TCP: bytes of the current echo received so far. */
  long received;
} Conn;

static Conn *conns;
static int nconns;
static long size_arg;
static int inflight;
static int plain_tcp;
static unsigned char *frames[VARIANTS];
static size_t frame_len;
static int epfd;
static int sending;
static int measuring;
static long long total, echoes, errors;
static long long hist[BUCKETS];
static double mark_us;
static double mark_cpu_us;
static unsigned char readbuf[READ_SIZE];

static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("error ");
  vprintf(fmt, ap);
  printf("\n");
  fflush(stdout);
  va_end(ap);
  exit(1);
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static unsigned char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) fail("cannot open %s: %s", path, strerror(errno));
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *data = malloc(n > 0 ? n : 1);
  if (n > 0 && fread(data, 1, n, f) != (size_t)n) fail("cannot read %s", path);
  fclose(f);
  *len = n;
  return data;
}

/* Encodes one masked text frame (RFC 6455 §5.2) with a random key. */
static unsigned char *masked_frame(int opcode, const unsigned char *payload, size_t len, int rsv1, size_t *out_len) {
  size_t head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  unsigned char *f = malloc(head + 4 + len);
  f[0] = 0x80 | (rsv1 ? 0x40 : 0) | opcode;
  if (len < 126) {
    f[1] = 0x80 | len;
  } else if (len < 65536) {
    f[1] = 0x80 | 126;
    f[2] = len >> 8;
    f[3] = len & 0xff;
  } else {
    f[1] = 0x80 | 127;
    for (int i = 0; i < 8; i++) f[2 + i] = (uint64_t)len >> (56 - 8 * i);
  }
  unsigned char key[4];
  for (int i = 0; i < 4; i++) key[i] = rand() & 0xff;
  memcpy(f + head, key, 4);
  for (size_t i = 0; i < len; i++) f[head + 4 + i] = payload[i] ^ key[i & 3];
  *out_len = head + 4 + len;
  return f;
}

static void watch(Conn *c, int want_out) {
  if (c->want_out == want_out) return;
  c->want_out = want_out;
  struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes queued frames until done or the socket is full. */
static void flush(Conn *c) {
  while (c->queued > 0) {
    const unsigned char *frame = frames[c->next_variant % VARIANTS];
    ssize_t n = write(c->fd, frame + c->offset, frame_len - c->offset);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      errors++;
      c->queued = 0;
      break;
    }
    c->offset += n;
    if (c->offset < frame_len) continue;
    c->offset = 0;
    c->next_variant++;
    c->queued--;
  }
  watch(c, c->queued > 0);
}

static void send_message(Conn *c) {
  c->sent_at_us = now_us();
  c->queued++;
  if (c->queued == 1) flush(c);
}

static void on_echo(Conn *c) {
  total++;
  if (measuring) {
    echoes++;
    if (inflight == 1) {
      double us = now_us() - c->sent_at_us;
      int i = us <= 1 ? 0 : (int)ceil(log(us) / log(1.02));
      hist[i < BUCKETS ? i : BUCKETS - 1]++;
    }
  }
  if (sending) send_message(c);
}

/* Sends a short control frame (pong or close) straight away; these are rare and tiny. */
static void send_control(Conn *c, int opcode, const unsigned char *payload, size_t len) {
  size_t n;
  unsigned char *f = masked_frame(opcode, payload, len, 0, &n);
  if (write(c->fd, f, n) != (ssize_t)n) errors++;
  free(f);
}

static void frame_done(Conn *c) {
  int op = c->opcode;
  if (op == 0x9) {
    send_control(c, 0xa, c->control, c->control_len);
  } else if (op == 0x8) {
    /* The server closed: answer, count it as an error, stop using the connection. */
    errors++;
    send_control(c, 0x8, c->control, c->control_len >= 2 ? 2 : 0);
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    shutdown(c->fd, SHUT_WR);
    c->queued = 0;
  } else if (op < 0x8 && c->fin) {
    /* An echo is a whole text message; uncompressed, as long as what was sent. */
    if (c->message_compressed == 0 && c->message_length != (uint64_t)size_arg) errors++;
    on_echo(c);
  }
  c->head_len = 0;
  c->head_need = 2;
}

static void start_payload(Conn *c) {
  unsigned char b0 = c->head[0], b1 = c->head[1];
  int len7 = b1 & 0x7f;
  c->fin = (b0 & 0x80) != 0;
  c->opcode = b0 & 0x0f;
  c->rsv1 = (b0 & 0x40) != 0;
  uint64_t len = len7;
  if (len7 == 126) len = ((uint64_t)c->head[2] << 8) | c->head[3];
  if (len7 == 127) {
    len = 0;
    for (int i = 0; i < 8; i++) len = (len << 8) | c->head[2 + i];
  }
  c->remaining = len;
  c->control_len = 0;
  if (c->opcode < 0x8) {
    if (c->opcode != 0x0) {
      if (c->opcode != 0x1) errors++;
      c->message_length = 0;
      c->message_compressed = c->rsv1;
    }
    c->message_length += len;
  }
  c->head_len = -1; /* in payload */
  if (len == 0) frame_done(c);
}

static void on_bytes(Conn *c, const unsigned char *p, size_t n) {
  if (plain_tcp) {
    c->received += n;
    while (c->received >= size_arg) {
      c->received -= size_arg;
      on_echo(c);
    }
    return;
  }
  size_t i = 0;
  while (i < n) {
    if (c->head_len >= 0) {
      c->head[c->head_len++] = p[i++];
      if (c->head_len == 2) {
        int len7 = c->head[1] & 0x7f;
        c->head_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((c->head[1] & 0x80) ? 4 : 0);
      }
      if (c->head_len >= 2 && c->head_len == c->head_need) start_payload(c);
    } else {
      size_t take = n - i < c->remaining ? n - i : (size_t)c->remaining;
      if (c->opcode >= 0x8 && c->control_len + take <= sizeof c->control) {
        memcpy(c->control + c->control_len, p + i, take);
        c->control_len += take;
      }
      i += take;
      c->remaining -= take;
      if (c->remaining == 0) frame_done(c);
    }
  }
}

static void on_readable(Conn *c) {
  ssize_t n = read(c->fd, readbuf, sizeof readbuf);
  if (n > 0) {
    on_bytes(c, readbuf, n);
  } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    errors++;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
  }
}

/* Opens one connection and completes the opening handshake (blocking); returns whether deflate was agreed. */
static int open_conn(Conn *c, int port, const char *path, int offer_deflate) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) fail("connect to 127.0.0.1:%d: %s", port, strerror(errno));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  memset(c, 0, sizeof *c);
  c->fd = fd;
  c->head_need = 2;
  c->want_out = -1;
  if (plain_tcp) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return 0;
  }
  struct timeval tv = {.tv_sec = 10};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  unsigned char keybytes[16];
  for (int i = 0; i < 16; i++) keybytes[i] = rand() & 0xff;
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char key[25];
  for (int i = 0, o = 0; i < 16; i += 3) {
    unsigned v = keybytes[i] << 16 | (i + 1 < 16 ? keybytes[i + 1] << 8 : 0) | (i + 2 < 16 ? keybytes[i + 2] : 0);
    key[o++] = b64[(v >> 18) & 63];
    key[o++] = b64[(v >> 12) & 63];
    key[o++] = i + 1 < 16 ? b64[(v >> 6) & 63] : '=';
    key[o++] = i + 2 < 16 ? b64[v & 63] : '=';
  }
  key[24] = 0;
  char req[1024];
  int len = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                     path, port, key, offer_deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n" : "");
  if (write(fd, req, len) != len) fail("handshake write: %s", strerror(errno));
  static char resp[HANDSHAKE_LIMIT + 1];
  size_t got = 0;
  char *end = NULL;
  while (!end) {
    if (got >= HANDSHAKE_LIMIT) fail("handshake response head over 16 KiB");
    /* Read one byte at a time so no frame byte after the head is consumed here. */
    ssize_t n = read(fd, resp + got, 1);
    if (n <= 0) fail("handshake: connection closed or timed out");
    got += n;
    resp[got] = 0;
    end = strstr(resp, "\r\n\r\n");
  }
  if (strncmp(resp, "HTTP/1.1 101", 12) != 0) fail("handshake refused: %.60s", resp);
  int deflate = 0;
  for (char *line = resp; line && *line; line = strstr(line, "\r\n") ? strstr(line, "\r\n") + 2 : NULL) {
    if (strncasecmp(line, "sec-websocket-extensions:", 25) == 0) {
      char *eol = strstr(line, "\r\n");
      char *hit = strstr(line, "permessage-deflate");
      if (hit && (!eol || hit < eol)) deflate = 1;
    }
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return deflate;
}

static void on_command(void) {
  static char line[256];
  static size_t have;
  ssize_t n = read(0, line + have, sizeof line - 1 - have);
  if (n <= 0) exit(0); /* The controlling worker went away. */
  have += n;
  char *nl;
  while ((nl = memchr(line, '\n', have))) {
    *nl = 0;
    if (strcmp(line, "go") == 0) {
      total = 0;
      sending = 1;
      for (int i = 0; i < nconns; i++)
        for (int k = 0; k < inflight; k++) send_message(&conns[i]);
      printf("ok\n");
    } else if (strcmp(line, "count") == 0) {
      printf("count %lld %lld\n", total, echoes);
    } else if (strcmp(line, "mark") == 0) {
      echoes = 0;
      memset(hist, 0, sizeof hist);
      measuring = 1;
      mark_us = now_us();
      mark_cpu_us = cpu_us();
      printf("ok\n");
    } else if (strcmp(line, "stop") == 0) {
      measuring = 0;
      sending = 0;
      printf("stop %lld %.0f %.0f %lld ", echoes, now_us() - mark_us, cpu_us() - mark_cpu_us, errors);
      int first = 1;
      for (int i = 0; i < BUCKETS; i++) {
        if (!hist[i]) continue;
        printf("%s%d:%lld", first ? "" : ",", i, hist[i]);
        first = 0;
      }
      printf("\n");
    } else if (strcmp(line, "close") == 0) {
      for (int i = 0; i < nconns; i++) close(conns[i].fd);
      printf("ok\n");
      fflush(stdout);
      exit(0);
    } else {
      printf("error unknown command %s\n", line);
    }
    fflush(stdout);
    have -= nl + 1 - line;
    memmove(line, nl + 1, have);
  }
}

int main(int argc, char **argv) {
  if (argc != 8) fail("usage: native-client PORT PATH|- CONNS SIZE INFLIGHT BODY_FILE COMPRESSED_FILE|-");
  int port = atoi(argv[1]);
  const char *path = argv[2];
  nconns = atoi(argv[3]);
  size_arg = atol(argv[4]);
  inflight = atoi(argv[5]);
  plain_tcp = strcmp(path, "-") == 0;
  if (port <= 0 || nconns <= 0 || size_arg <= 0 || inflight <= 0) fail("bad arguments");
  int offer = strcmp(argv[7], "-") != 0;
  srand(getpid());
  conns = calloc(nconns, sizeof *conns);
  epfd = epoll_create1(0);
  int deflate = 0;
  for (int i = 0; i < nconns; i++) {
    deflate = open_conn(&conns[i], port, path, offer);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
    epoll_ctl(epfd, EPOLL_CTL_ADD, conns[i].fd, &ev);
    conns[i].want_out = 0;
  }
  size_t body_len;
  unsigned char *body = read_file(deflate ? argv[7] : argv[6], &body_len);
  for (int i = 0; i < VARIANTS; i++) {
    if (plain_tcp) {
      frames[i] = body;
      frame_len = body_len;
    } else {
      frames[i] = masked_frame(0x1, body, body_len, deflate, &frame_len);
    }
  }
  struct epoll_event cmd = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &cmd);
  printf("ready %d\n", deflate);
  fflush(stdout);
  struct epoll_event events[128];
  for (;;) {
    int n = epoll_wait(epfd, events, 128, -1);
    for (int i = 0; i < n; i++) {
      Conn *c = events[i].data.ptr;
      if (!c) {
        on_command();
        continue;
      }
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
      if (events[i].events & EPOLLOUT) flush(c);
    }
  }
}
