#include <sys/types.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/inotify.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>
#include <netinet/in.h>
