/*
 * notify-wait: a minimal sd_notify listener for timing exec -> READY=1.
 *
 *   notify-wait CMD [ARGS...]         run CMD with NOTIFY_SOCKET set; exit 0 as soon as a
 *                                     datagram holding the line READY=1 arrives (the child
 *                                     gets SIGKILL, so its own shutdown is not timed, and is
 *                                     reaped); exit 1 if the child exits first.
 *   notify-wait --exit CMD [ARGS...]  run CMD the same way and exit with its status when it
 *                                     exits (for one-shot tools: systemd-sysctl, sysctl -w),
 *                                     so both sides pay the same fork/exec overhead.
 *
 * The socket is abstract (NOTIFY_SOCKET=@portward-bench-PID), as systemd allows.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int wait_exit = 0, first = 1;
    if (argc > 1 && strcmp(argv[1], "--exit") == 0) { wait_exit = 1; first = 2; }
    if (argc <= first) {
        fprintf(stderr, "usage: notify-wait [--exit] CMD [ARGS...]\n");
        return 64;
    }
    if (wait_exit) {
        pid_t pid = fork();
        if (pid == 0) { execvp(argv[first], argv + first); _exit(127); }
        int status;
        if (pid < 0 || waitpid(pid, &status, 0) < 0) return 1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    }

    char name[64];
    snprintf(name, sizeof name, "portward-bench-%d", (int)getpid());
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    memcpy(addr.sun_path + 1, name, len);  /* abstract: leading NUL */
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, offsetof(struct sockaddr_un, sun_path) + 1 + len) < 0) {
        perror("notify-wait: socket");
        return 1;
    }
    char env[80];
    snprintf(env, sizeof env, "@%s", name);
    setenv("NOTIFY_SOCKET", env, 1);

    pid_t pid = fork();
    if (pid == 0) { execvp(argv[first], argv + first); _exit(127); }
    if (pid < 0) { perror("notify-wait: fork"); return 1; }

    char buffer[4096];
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ready = poll(&p, 1, 100);
        if (ready > 0) {
            ssize_t n = recv(fd, buffer, sizeof buffer - 1, 0);
            if (n < 0) continue;
            buffer[n] = 0;
            for (char *line = strtok(buffer, "\n"); line; line = strtok(NULL, "\n")) {
                if (strcmp(line, "READY=1") == 0) {
                    kill(pid, SIGKILL);
                    waitpid(pid, NULL, 0);
                    return 0;
                }
            }
        } else if (waitpid(pid, NULL, WNOHANG) == pid) {
            fprintf(stderr, "notify-wait: %s exited before READY=1\n", argv[first]);
            return 1;
        }
    }
}
