// Socket, address, signal and epoll helpers for Miniss's I/O layer. Each returns the result or
// -errno, so Swift never reads `errno` after another call could have changed it.
#ifndef CMINISS_NET_H
#define CMINISS_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/// An address big enough for IPv4 and IPv6, with its length.
typedef struct miniss_address {
    struct sockaddr_storage storage;
    uint32_t length;
} miniss_address;

/// Parses a numeric IPv4 ("127.0.0.1") or IPv6 ("::1", "[::1]") host and a port. 0 or -EINVAL.
int miniss_address_parse(const char *host, int port, miniss_address *out);
/// Writes "a.b.c.d:port" or "[v6]:port" into `buffer`. Returns 0 or -EINVAL.
int miniss_address_format(const miniss_address *address, char *buffer, unsigned capacity);
/// The port of an address (host order), or -1.
int miniss_address_port(const miniss_address *address);
/// The family (AF_INET, AF_INET6) of an address.
int miniss_address_family(const miniss_address *address);

/// socket(2) for TCP (`stream`) or UDP with CLOEXEC (and NONBLOCK if asked). fd or -errno.
int miniss_socket(int family, bool stream, bool nonblocking);
/// Sets an int socket option (level SOL_SOCKET or IPPROTO_TCP by name). 0 or -errno.
int miniss_set_reuse_address(int fd, bool on);
int miniss_set_reuse_port(int fd, bool on);
int miniss_set_no_delay(int fd, bool on);
/// SO_LINGER {on, 0}: close(2) then resets the connection (RST) instead of a FIN. 0 or -errno.
int miniss_set_linger_zero(int fd);
/// bind(2), then listen(2) if backlog >= 0. 0 or -errno.
int miniss_bind(int fd, const miniss_address *address, int backlog);
/// accept4(2) with CLOEXEC (and NONBLOCK if asked). fd or -errno.
int miniss_accept(int fd, bool nonblocking, miniss_address *peer);
/// connect(2). 0 or -errno (-EINPROGRESS on a non-blocking socket that is connecting).
int miniss_connect(int fd, const miniss_address *address);
/// The pending error of a socket (SO_ERROR) as -errno, or 0.
int miniss_socket_error(int fd);
/// getsockname / getpeername. 0 or -errno.
int miniss_local_address(int fd, miniss_address *out);
int miniss_peer_address(int fd, miniss_address *out);
/// recv/send (MSG_NOSIGNAL) on a non-blocking socket. Byte count or -errno.
long miniss_recv(int fd, void *buffer, unsigned long length);
long miniss_send(int fd, const void *buffer, unsigned long length);
/// send with MSG_DONTWAIT (never blocks, whatever the socket's mode). Byte count or -errno.
long miniss_send_now(int fd, const void *buffer, unsigned long length);
/// recvfrom / sendto (MSG_NOSIGNAL). Byte count or -errno.
long miniss_recv_from(int fd, void *buffer, unsigned long length, miniss_address *from);
long miniss_send_to(int fd, const void *buffer, unsigned long length, const miniss_address *to);
/// shutdown(2) with SHUT_RD (0), SHUT_WR (1) or SHUT_RDWR (2). 0 or -errno.
int miniss_shutdown(int fd, int how);
/// close(2). 0 or -errno (the fd is released even on EINTR, as on Linux).
int miniss_close(int fd);
/// Clears or sets O_NONBLOCK. 0 or -errno.
int miniss_set_nonblocking(int fd, bool on);

/// open(2) with CLOEXEC. fd or -errno.
int miniss_open(const char *path, int flags, unsigned mode);
/// pread / pwrite / fsync / fdatasync on a file. Byte count or -errno.
long miniss_pread(int fd, void *buffer, unsigned long length, uint64_t offset);
long miniss_pwrite(int fd, const void *buffer, unsigned long length, uint64_t offset);
int miniss_fsync(int fd, bool data_only);
/// The size of an open file (fstat), or -errno.
int64_t miniss_file_size(int fd);
/// Open flags, for the Swift side.
int miniss_open_flags(bool read, bool write, bool create, bool truncate, bool append, bool exclusive);

/// Blocks (SIG_BLOCK) the signals in the calling thread. 0 or -errno.
int miniss_block_signals(const int *signals, int count);
/// A CLOEXEC signalfd for the signals (NONBLOCK if asked). fd or -errno.
int miniss_signalfd(const int *signals, int count, bool nonblocking);
/// Size of struct signalfd_siginfo (the unit a signalfd read returns).
unsigned miniss_signalfd_info_size(void);
/// Sends `signal` to the calling thread only (tgkill). 0 or -errno.
int miniss_raise_in_thread(int signal);

/// epoll: registers fd edge-triggered for input, output and hang-up with a 64-bit tag.
int miniss_epoll_add_edge(int epfd, int fd, uint64_t tag);
/// epoll_ctl DEL. 0 or -errno.
int miniss_epoll_remove(int epfd, int fd);
/// Like miniss_epoll_wait, also returning each event's flags (bit 0 readable/hang-up/error,
/// bit 1 writable/hang-up/error).
int miniss_epoll_wait_events(int epfd, uint64_t *tags, uint32_t *readiness, int max, int timeout_ms);

#endif
