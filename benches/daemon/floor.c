/* The floor: the least CPU a process can spend per received advert on this machine.
 * A raw IPPROTO_VRRP socket bound to the interface and joined to 224.0.0.18, read with
 * a blocking recv() in a loop, nothing else. compare.sh floods it like the daemons, so
 * the difference between a daemon and this floor is the daemon's own work per packet;
 * the floor itself is the kernel's delivery and the sleep/wake-up of a receiver.
 *
 *   floor IFNAME SECONDS     (exits after SECONDS; SO_RCVTIMEO bounds each wait)
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: floor IFNAME SECONDS\n");
        return 2;
    }
    int s = socket(AF_INET, SOCK_RAW, 112);
    if (s < 0) {
        perror("socket");
        return 1;
    }
    if (setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, argv[1], strlen(argv[1])) < 0) {
        perror("SO_BINDTODEVICE");
        return 1;
    }
    struct ip_mreqn m = {0};
    m.imr_multiaddr.s_addr = inet_addr("224.0.0.18");
    m.imr_ifindex = (int)if_nametoindex(argv[1]);
    if (setsockopt(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) < 0) {
        perror("IP_ADD_MEMBERSHIP");
        return 1;
    }
    struct timeval tv = {1, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    double limit = atof(argv[2]);
    unsigned long n = 0;
    char buf[2048];
    for (;;) {
        if (recv(s, buf, sizeof buf, 0) > 0)
            n++;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) * 1e-9 > limit)
            break;
    }
    printf("%lu\n", n);
    return 0;
}
