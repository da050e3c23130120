/*
 * bind-loop: the cost of one bind(2), for the owner guard's benchmark (bench/run.sh,
 * section guard; BENCHMARKS.md).
 *
 *   bind-loop PORT tcp|udp 4|6 COUNT
 *
 * COUNT times: socket(), bind() to PORT on 0.0.0.0 (4) or [::] dual-stack (6), close().
 * Only the bind() call is timed (CLOCK_MONOTONIC around it). Prints one line:
 *   median_ns=N mean_ns=N bound=N eaddrinuse=N other=N
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int compare(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: bind-loop PORT tcp|udp 4|6 COUNT\n");
        return 2;
    }
    int port = atoi(argv[1]), udp = strcmp(argv[2], "udp") == 0, v6 = strcmp(argv[3], "6") == 0;
    long count = atol(argv[4]);
    long *times = calloc(count, sizeof *times);
    long bound = 0, inuse = 0, other = 0, sum = 0;
    struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port) };
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_ANY_INIT };
    int zero = 0;
    for (long i = 0; i < count; i++) {
        int fd = socket(v6 ? AF_INET6 : AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
        if (fd < 0) { perror("socket"); return 1; }
        if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        long t0 = now_ns();
        int rc = v6 ? bind(fd, (struct sockaddr *)&a6, sizeof a6) : bind(fd, (struct sockaddr *)&a4, sizeof a4);
        long t1 = now_ns();
        int e = errno;
        close(fd);
        times[i] = t1 - t0;
        sum += t1 - t0;
        if (rc == 0) bound++; else if (e == EADDRINUSE) inuse++; else other++;
    }
    qsort(times, count, sizeof *times, compare);
    printf("median_ns=%ld mean_ns=%ld bound=%ld eaddrinuse=%ld other=%ld\n",
           times[count / 2], sum / count, bound, inuse, other);
    return 0;
}
