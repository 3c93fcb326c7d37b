// A narrow C face of liburing for the io_uring transports. liburing cannot be imported into Swift
// next to swift-system: swift-system's C module includes the kernel's <linux/io_uring.h>, liburing
// carries its own copy of the same structs, and Clang modules refuse the two definitions side by
// side. So liburing's inline helpers are called here, in C, and Swift sees only this header,
// which names no liburing type. Every function is a thin wrapper; the ring stays opaque.
#ifndef CPODBENCH_URING_H
#define CPODBENCH_URING_H

#include <stddef.h>
#include <stdint.h>

typedef struct CPodBenchURing CPodBenchURing;

/// Ring setup modes: no flags; SINGLE_ISSUER|DEFER_TASKRUN; SQPOLL.
enum { CPodBenchURing_standard = 0, CPodBenchURing_defer_taskrun = 1, CPodBenchURing_sqpoll = 2 };

/// Sets up a ring with at least `entries` submission entries. NULL with *error set (a positive
/// errno) when io_uring_setup refuses.
CPodBenchURing *CPodBenchURing_create(unsigned entries, int mode, int *error);

/// Tears the ring down; pending requests are cancelled.
void CPodBenchURing_destroy(CPodBenchURing *ring);

/// Registers `fd` as the ring's only fixed file; later requests on `fd` use it. 0 or -errno.
int CPodBenchURing_register_file(CPodBenchURing *ring, int fd);

/// Registers one buffer (index 0) with the ring. 0 or -errno.
int CPodBenchURing_register_buffer(CPodBenchURing *ring, void *base, size_t len);

/// Queues a send of `len` bytes (MSG_WAITALL | MSG_NOSIGNAL). With `chain`, a send queued right
/// before it (and not yet submitted) is linked to this one and gets MSG_MORE. With `registered`,
/// `buf` lies in the registered buffer and the send is a zero-copy send from it
/// (IORING_OP_SEND_ZC with IORING_RECVSEND_FIXED_BUF): its completion comes with
/// IORING_CQE_F_MORE, and a second completion (IORING_CQE_F_NOTIF) says when the kernel is done
/// with the memory. 0, or -EBUSY when the submission queue is full.
int CPodBenchURing_queue_send(CPodBenchURing *ring, int fd, const void *buf, size_t len, int chain, int registered,
                              uint64_t tag);

/// Queues a receive of at most `len` bytes. With `poll_first` (IORING_RECVSEND_POLL_FIRST) the
/// kernel waits for data before trying, instead of trying once in vain: for a receive that cannot
/// find data yet. 0, or -EBUSY when the submission queue is full.
int CPodBenchURing_queue_recv(CPodBenchURing *ring, int fd, void *buf, size_t len, int poll_first, uint64_t tag);

struct iovec;

/// Queues a writev at the file's position (an O_APPEND file appends); with `link`, the next
/// request queued starts only after it. 0, or -EBUSY when the submission queue is full.
int CPodBenchURing_queue_writev(CPodBenchURing *ring, int fd, const struct iovec *vectors, unsigned count, int link,
                                uint64_t tag);

/// Queues an fsync. 0, or -EBUSY.
int CPodBenchURing_queue_fsync(CPodBenchURing *ring, int fd, uint64_t tag);

/// Queues a read at the file's position. 0, or -EBUSY.
int CPodBenchURing_queue_read(CPodBenchURing *ring, int fd, void *buf, unsigned len, uint64_t tag);

/// Submits what is queued and waits up to `timeout_ns` for at least one completion. The number
/// submitted, or -errno (-ETIME when the time ran out).
int CPodBenchURing_submit_and_wait(CPodBenchURing *ring, uint64_t timeout_ns);

/// Completion flags the channel reads (IORING_CQE_F_MORE, IORING_CQE_F_NOTIF).
enum { CPodBenchURing_more = 1 << 1, CPodBenchURing_notification = 1 << 3 };

/// Takes one completion: 1 with its tag, result and flags, 0 when none is there.
int CPodBenchURing_next_completion(CPodBenchURing *ring, uint64_t *tag, int32_t *result, uint32_t *flags);

#endif
