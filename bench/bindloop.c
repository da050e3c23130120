// bindloop PORT N [tcp|udp]: N times socket(AF_INET), bind(0.0.0.0:PORT), close; prints the
// median over 5 batches of the nanoseconds one socket+bind+close took (CLOCK_MONOTONIC).
// For the cost the post_bind programs add to a bind() (bench/events.sh).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: bindloop PORT N [tcp|udp]\n"); return 64; }
    int port = atoi(argv[1]);
    long n = atol(argv[2]);
    int type = argc > 3 && strcmp(argv[3], "tcp") == 0 ? SOCK_STREAM : SOCK_DGRAM;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY) };
    double batches[5];
    for (int b = 0; b < 5; b++) {
        double t0 = now();
        for (long i = 0; i < n; i++) {
            int s = socket(AF_INET, type, 0);
            int one = 1;
            setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (bind(s, (struct sockaddr *)&a, sizeof(a)) != 0) { perror("bind"); return 1; }
            close(s);
        }
        batches[b] = (now() - t0) / n;
    }
    qsort(batches, 5, sizeof(double), cmp);
    printf("%.0f\n", batches[2]);
    return 0;
}
