#include "CMinissNet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RETURN_ERRNO(expr) return (expr) < 0 ? -errno : 0

int miniss_address_parse(const char *host, int port, miniss_address *out) {
    if (port < 0 || port > 65535 || host == NULL) return -EINVAL;
    memset(out, 0, sizeof *out);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&out->storage;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        out->length = sizeof *v4;
        return 0;
    }
    char trimmed[INET6_ADDRSTRLEN + 2];
    size_t length = strlen(host);
    if (length >= 2 && host[0] == '[' && host[length - 1] == ']') {
        if (length - 2 >= sizeof trimmed) return -EINVAL;
        memcpy(trimmed, host + 1, length - 2);
        trimmed[length - 2] = 0;
        host = trimmed;
    }
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->storage;
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        out->length = sizeof *v6;
        return 0;
    }
    return -EINVAL;
}

int miniss_address_format(const miniss_address *address, char *buffer, unsigned capacity) {
    char text[INET6_ADDRSTRLEN];
    if (address->storage.ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)&address->storage;
        if (inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text) == NULL) return -EINVAL;
        snprintf(buffer, capacity, "%s:%u", text, ntohs(v4->sin_port));
        return 0;
    }
    if (address->storage.ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&address->storage;
        if (inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text) == NULL) return -EINVAL;
        snprintf(buffer, capacity, "[%s]:%u", text, ntohs(v6->sin6_port));
        return 0;
    }
    return -EINVAL;
}

int miniss_address_port(const miniss_address *address) {
    if (address->storage.ss_family == AF_INET) {
        return ntohs(((const struct sockaddr_in *)&address->storage)->sin_port);
    }
    if (address->storage.ss_family == AF_INET6) {
        return ntohs(((const struct sockaddr_in6 *)&address->storage)->sin6_port);
    }
    return -1;
}

int miniss_address_family(const miniss_address *address) { return address->storage.ss_family; }

int miniss_socket(int family, bool stream, bool nonblocking) {
    int type = (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
    int fd = socket(family, type, 0);
    return fd < 0 ? -errno : fd;
}

static int set_int_option(int fd, int level, int name, bool on) {
    int value = on ? 1 : 0;
    RETURN_ERRNO(setsockopt(fd, level, name, &value, sizeof value));
}

int miniss_set_reuse_address(int fd, bool on) { return set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, on); }
int miniss_set_reuse_port(int fd, bool on) { return set_int_option(fd, SOL_SOCKET, SO_REUSEPORT, on); }
int miniss_set_no_delay(int fd, bool on) { return set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, on); }

int miniss_set_linger_zero(int fd) {
    struct linger value = {.l_onoff = 1, .l_linger = 0};
    RETURN_ERRNO(setsockopt(fd, SOL_SOCKET, SO_LINGER, &value, sizeof value));
}

int miniss_bind(int fd, const miniss_address *address, int backlog) {
    if (bind(fd, (const struct sockaddr *)&address->storage, address->length) < 0) return -errno;
    if (backlog >= 0 && listen(fd, backlog) < 0) return -errno;
    return 0;
}

int miniss_accept(int fd, bool nonblocking, miniss_address *peer) {
    socklen_t length = sizeof peer->storage;
    int flags = SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
    int client = accept4(fd, (struct sockaddr *)&peer->storage, &length, flags);
    if (client < 0) return -errno;
    peer->length = length;
    return client;
}

int miniss_connect(int fd, const miniss_address *address) {
    RETURN_ERRNO(connect(fd, (const struct sockaddr *)&address->storage, address->length));
}

int miniss_socket_error(int fd) {
    int value = 0;
    socklen_t length = sizeof value;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) < 0) return -errno;
    return -value;
}

int miniss_local_address(int fd, miniss_address *out) {
    socklen_t length = sizeof out->storage;
    if (getsockname(fd, (struct sockaddr *)&out->storage, &length) < 0) return -errno;
    out->length = length;
    return 0;
}

int miniss_peer_address(int fd, miniss_address *out) {
    socklen_t length = sizeof out->storage;
    if (getpeername(fd, (struct sockaddr *)&out->storage, &length) < 0) return -errno;
    out->length = length;
    return 0;
}

long miniss_recv(int fd, void *buffer, unsigned long length) {
    ssize_t n = recv(fd, buffer, length, 0);
    return n < 0 ? -errno : n;
}

long miniss_send(int fd, const void *buffer, unsigned long length) {
    ssize_t n = send(fd, buffer, length, MSG_NOSIGNAL);
    return n < 0 ? -errno : n;
}

long miniss_send_now(int fd, const void *buffer, unsigned long length) {
    ssize_t n = send(fd, buffer, length, MSG_NOSIGNAL | MSG_DONTWAIT);
    return n < 0 ? -errno : n;
}

long miniss_recv_from(int fd, void *buffer, unsigned long length, miniss_address *from) {
    socklen_t address_length = sizeof from->storage;
    ssize_t n = recvfrom(fd, buffer, length, 0, (struct sockaddr *)&from->storage, &address_length);
    if (n < 0) return -errno;
    from->length = address_length;
    return n;
}

long miniss_send_to(int fd, const void *buffer, unsigned long length, const miniss_address *to) {
    ssize_t n = sendto(fd, buffer, length, MSG_NOSIGNAL, (const struct sockaddr *)&to->storage, to->length);
    return n < 0 ? -errno : n;
}

int miniss_shutdown(int fd, int how) {
    int mode = how == 0 ? SHUT_RD : how == 1 ? SHUT_WR : SHUT_RDWR;
    RETURN_ERRNO(shutdown(fd, mode));
}

int miniss_close(int fd) {
    // On Linux the descriptor is released even when close reports EINTR: never retry.
    RETURN_ERRNO(close(fd));
}

int miniss_set_nonblocking(int fd, bool on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -errno;
    flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    RETURN_ERRNO(fcntl(fd, F_SETFL, flags));
}

int miniss_open(const char *path, int flags, unsigned mode) {
    int fd = open(path, flags | O_CLOEXEC, (mode_t)mode);
    return fd < 0 ? -errno : fd;
}

long miniss_pread(int fd, void *buffer, unsigned long length, uint64_t offset) {
    ssize_t n = pread(fd, buffer, length, (off_t)offset);
    return n < 0 ? -errno : n;
}

long miniss_pwrite(int fd, const void *buffer, unsigned long length, uint64_t offset) {
    ssize_t n = pwrite(fd, buffer, length, (off_t)offset);
    return n < 0 ? -errno : n;
}

int miniss_fsync(int fd, bool data_only) { RETURN_ERRNO(data_only ? fdatasync(fd) : fsync(fd)); }

int64_t miniss_file_size(int fd) {
    struct stat info;
    if (fstat(fd, &info) < 0) return -errno;
    return (int64_t)info.st_size;
}

int miniss_open_flags(bool read, bool write, bool create, bool truncate, bool append, bool exclusive) {
    int flags = read && write ? O_RDWR : write ? O_WRONLY : O_RDONLY;
    if (create) flags |= O_CREAT;
    if (truncate) flags |= O_TRUNC;
    if (append) flags |= O_APPEND;
    if (exclusive) flags |= O_EXCL;
    return flags;
}

static int make_set(const int *signals, int count, sigset_t *set) {
    sigemptyset(set);
    for (int i = 0; i < count; i++) {
        if (sigaddset(set, signals[i]) < 0) return -errno;
    }
    return 0;
}

int miniss_block_signals(const int *signals, int count) {
    sigset_t set;
    int result = make_set(signals, count, &set);
    if (result < 0) return result;
    return -pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int miniss_signalfd(const int *signals, int count, bool nonblocking) {
    sigset_t set;
    int result = make_set(signals, count, &set);
    if (result < 0) return result;
    int fd = signalfd(-1, &set, SFD_CLOEXEC | (nonblocking ? SFD_NONBLOCK : 0));
    return fd < 0 ? -errno : fd;
}

unsigned miniss_signalfd_info_size(void) { return sizeof(struct signalfd_siginfo); }

int miniss_raise_in_thread(int signal) {
    RETURN_ERRNO(syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), signal));
}

int miniss_epoll_add_edge(int epfd, int fd, uint64_t tag) {
    struct epoll_event event;
    memset(&event, 0, sizeof event);
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.u64 = tag;
    RETURN_ERRNO(epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event));
}

int miniss_epoll_remove(int epfd, int fd) { RETURN_ERRNO(epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL)); }

int miniss_epoll_wait_events(int epfd, uint64_t *tags, uint32_t *readiness, int max, int timeout_ms) {
    struct epoll_event events[128];
    if (max > 128) max = 128;
    int n = epoll_wait(epfd, events, max, timeout_ms);
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) {
        uint32_t flags = events[i].events;
        uint32_t broken = flags & (EPOLLHUP | EPOLLERR);
        tags[i] = events[i].data.u64;
        readiness[i] = ((flags & (EPOLLIN | EPOLLRDHUP)) || broken ? 1u : 0u) | ((flags & EPOLLOUT) || broken ? 2u : 0u);
    }
    return n;
}
