#include <sys/types.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/inotify.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>
#include <netinet/in.h>
#include <sys/vfs.h>
#include <sched.h>

/* setns(2) and CLONE_NEWNET: <sched.h> declares them only under _GNU_SOURCE. */
int setns(int fd, int nstype);
#ifndef CLONE_NEWNET
#define CLONE_NEWNET 0x40000000
#endif
