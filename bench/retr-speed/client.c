// RETR speed client (bench/retr-speed): logs in, RETRs message 1 N times on
// one session and reads as fast as it can; prints bytes, seconds, MB/s.
// Usage: client PORT TLS(0|1) USER PASS N   (env READ_AHEAD=1: OpenSSL read-ahead)
// Built and driven by bench/retr-speed/run.py; until `popbox bench
// --scenario retr` exists this is how docs/performance.md measured RETR.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static SSL *ssl;
static int fd;
static char buf[1 << 20];
static size_t have;

static long rd(char *p, size_t n) {
  if (ssl) return SSL_read(ssl, p, (int)n);
  return read(fd, p, n);
}
static void wr(const char *s) {
  if (ssl) SSL_write(ssl, s, (int)strlen(s));
  else if (write(fd, s, strlen(s)) < 0) exit(1);
}
static void line(void) {  // reads one status line (small replies)
  for (;;) {
    char *e = memmem(buf, have, "\r\n", 2);
    if (e) { size_t k = e - buf + 2; if (buf[0] != '+') { fprintf(stderr, "reply: %.*s\n", (int)k, buf); exit(1);} memmove(buf, buf + k, have - k); have -= k; return; }
    long n = rd(buf + have, sizeof buf - have);
    if (n <= 0) { fprintf(stderr, "eof\n"); exit(1); }
    have += n;
  }
}
int main(int argc, char **argv) {
  if (argc < 6) { fprintf(stderr, "usage: port tls user pass n\n"); return 2; }
  int port = atoi(argv[1]), tls = atoi(argv[2]), n = atoi(argv[5]);
  fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, (void *)&a, sizeof a)) { perror("connect"); return 1; }
  if (tls) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (getenv("CIPHER")) SSL_CTX_set_ciphersuites(ctx, getenv("CIPHER"));
    if (getenv("READ_AHEAD")) SSL_CTX_set_read_ahead(ctx, 1);
    ssl = SSL_new(ctx); SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) { fprintf(stderr, "tls\n"); return 1; }
  }
  line();
  char cmd[512];
  snprintf(cmd, sizeof cmd, "USER %s\r\n", argv[3]); wr(cmd); line();
  snprintf(cmd, sizeof cmd, "PASS %s\r\n", argv[4]); wr(cmd); line();
  struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
  unsigned long long total = 0;
  for (int i = 0; i < n; i++) {
    wr("RETR 1\r\n");
    line();
    // read until "\r\n.\r\n" at end of data; keep last 4 bytes for the check
    char tail[5] = {0};
    unsigned long long got = 0;
    long r = (long)have;
    for (;;) {
      if (r > 0) {
        total += r; got += r;
        for (long j = r > 5 ? r - 5 : 0; j < r; j++) { memmove(tail, tail + 1, 4); tail[4] = buf[j]; }
        if (got >= 5 && memcmp(tail, "\r\n.\r\n", 5) == 0) break;
      }
      r = rd(buf, sizeof buf);
      if (r <= 0) { fprintf(stderr, "eof in data\n"); return 1; }
    }
    have = 0;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("%s %d x RETR: %llu bytes in %.3f s = %.1f MB/s\n", tls ? "tls" : "plain", n, total, s, total / s / 1e6);
  wr("QUIT\r\n"); line();
  return 0;
}
