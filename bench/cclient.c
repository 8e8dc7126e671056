/* The benchmark's C client: a libzmq DEALER that sends a pingd PING and blocks in one
 * receive, COUNT times, with nothing else between its two clock readings. It measures the
 * server's cost with no Python client in the way.
 *
 *     cclient ENDPOINT COUNT    ->  one JSON line: {"count": N, "p50_us": ..., "p90_us": ...}
 *
 * Works against pingd and the bare echo server alike: it waits for any one reply per request.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <zmq.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: cclient ENDPOINT COUNT\n");
        return 2;
    }
    long count = atol(argv[2]);
    if (count < 1 || count > 10000000) return 2;
    int64_t *rtts = malloc(sizeof(int64_t) * (size_t)count);
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0, timeout_ms = 5000;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    if (zmq_connect(sock, argv[1]) != 0) return 1;
    unsigned char frame[12] = {'P', 'D', 1, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    unsigned char reply[256];
    long done = 0;
    for (long i = -100; i < count; i++) { /* 100 warm-up round trips, not timed */
        uint64_t seq = (uint64_t)(i + 101);
        for (int b = 0; b < 8; b++) frame[4 + b] = (unsigned char)(seq >> (56 - 8 * b));
        int64_t t0 = now_ns();
        if (zmq_send(sock, frame, sizeof frame, 0) < 0) break;
        if (zmq_recv(sock, reply, sizeof reply, 0) < 0) break;
        int64_t t1 = now_ns();
        if (i >= 0) rtts[done++] = t1 - t0;
    }
    qsort(rtts, (size_t)done, sizeof(int64_t), cmp);
    if (done == 0) {
        printf("{\"count\": 0, \"error\": \"no reply\"}\n");
        return 1;
    }
    printf("{\"count\": %ld, \"p50_us\": %.3f, \"p90_us\": %.3f, \"p99_us\": %.3f}\n", done,
           rtts[done / 2] / 1000.0, rtts[(done * 9) / 10] / 1000.0, rtts[(done * 99) / 100] / 1000.0);
    zmq_close(sock);
    zmq_ctx_term(ctx);
    free(rtts);
    return 0;
}
