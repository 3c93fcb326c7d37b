#include "CPodBenchURing.h"


#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

_Static_assert(CPodBenchURing_more == IORING_CQE_F_MORE, "IORING_CQE_F_MORE");
_Static_assert(CPodBenchURing_notification == IORING_CQE_F_NOTIF, "IORING_CQE_F_NOTIF");

struct CPodBenchURing {
    struct io_uring ring;
    int fixed_fd;                     // the registered socket, or -1
    struct io_uring_sqe *last_send;   // the latest queued, unsubmitted send (for chaining)
};

CPodBenchURing *CPodBenchURing_create(unsigned entries, int mode, int *error) {
    CPodBenchURing *r = calloc(1, sizeof *r);
    if (r == NULL) {
        *error = ENOMEM;
        return NULL;
    }
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    if (mode == CPodBenchURing_defer_taskrun) {
        params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    } else if (mode == CPodBenchURing_sqpoll) {
        params.flags = IORING_SETUP_SQPOLL;
        params.sq_thread_idle = 1000;  // ms the kernel thread keeps polling after the last submission
    }
    int rc = io_uring_queue_init_params(entries, &r->ring, &params);
    if (rc < 0) {
        *error = -rc;
        free(r);
        return NULL;
    }
    r->fixed_fd = -1;
    return r;
}

void CPodBenchURing_destroy(CPodBenchURing *r) {
    io_uring_queue_exit(&r->ring);
    free(r);
}

int CPodBenchURing_register_file(CPodBenchURing *r, int fd) {
    int rc = io_uring_register_files(&r->ring, &fd, 1);
    if (rc == 0) r->fixed_fd = fd;
    return rc;
}

int CPodBenchURing_register_buffer(CPodBenchURing *r, void *base, size_t len) {
    struct iovec vec = {.iov_base = base, .iov_len = len};
    return io_uring_register_buffers(&r->ring, &vec, 1);
}

static void target(CPodBenchURing *r, struct io_uring_sqe *sqe, int fd) {
    if (fd == r->fixed_fd) {
        sqe->fd = 0;
        sqe->flags |= IOSQE_FIXED_FILE;
    }
}

int CPodBenchURing_queue_send(CPodBenchURing *r, int fd, const void *buf, size_t len, int chain, int registered,
                              uint64_t tag) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (sqe == NULL) return -EBUSY;
    if (chain && r->last_send != NULL) {
        r->last_send->flags |= IOSQE_IO_LINK;
        r->last_send->msg_flags |= MSG_MORE;
    }
    if (registered) {
        io_uring_prep_send_zc_fixed(sqe, fd, buf, len, MSG_WAITALL | MSG_NOSIGNAL, 0, 0);
    } else {
        io_uring_prep_send(sqe, fd, buf, len, MSG_WAITALL | MSG_NOSIGNAL);
    }
    target(r, sqe, fd);
    io_uring_sqe_set_data64(sqe, tag);
    r->last_send = sqe;
    return 0;
}

int CPodBenchURing_queue_recv(CPodBenchURing *r, int fd, void *buf, size_t len, int poll_first, uint64_t tag) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (sqe == NULL) return -EBUSY;
    io_uring_prep_recv(sqe, fd, buf, len, 0);
    if (poll_first) sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
    target(r, sqe, fd);
    io_uring_sqe_set_data64(sqe, tag);
    r->last_send = NULL;  // nothing chains across a receive
    return 0;
}

int CPodBenchURing_queue_writev(CPodBenchURing *r, int fd, const struct iovec *vectors, unsigned count, int link,
                                uint64_t tag) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (sqe == NULL) return -EBUSY;
    io_uring_prep_writev(sqe, fd, vectors, count, (uint64_t)-1);
    if (link) sqe->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data64(sqe, tag);
    r->last_send = NULL;
    return 0;
}

int CPodBenchURing_queue_fsync(CPodBenchURing *r, int fd, uint64_t tag) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (sqe == NULL) return -EBUSY;
    io_uring_prep_fsync(sqe, fd, 0);
    io_uring_sqe_set_data64(sqe, tag);
    r->last_send = NULL;
    return 0;
}

int CPodBenchURing_queue_read(CPodBenchURing *r, int fd, void *buf, unsigned len, uint64_t tag) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (sqe == NULL) return -EBUSY;
    io_uring_prep_read(sqe, fd, buf, len, (uint64_t)-1);
    io_uring_sqe_set_data64(sqe, tag);
    r->last_send = NULL;
    return 0;
}

int CPodBenchURing_submit_and_wait(CPodBenchURing *r, uint64_t timeout_ns) {
    r->last_send = NULL;
    struct __kernel_timespec ts = {.tv_sec = (long long)(timeout_ns / 1000000000u),
                                   .tv_nsec = (long long)(timeout_ns % 1000000000u)};
    struct io_uring_cqe *cqe = NULL;
    return io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
}

int CPodBenchURing_next_completion(CPodBenchURing *r, uint64_t *tag, int32_t *result, uint32_t *flags) {
    struct io_uring_cqe *cqe = NULL;
    if (io_uring_peek_cqe(&r->ring, &cqe) != 0 || cqe == NULL) return 0;
    *tag = io_uring_cqe_get_data64(cqe);
    *result = cqe->res;
    *flags = cqe->flags;
    io_uring_cqe_seen(&r->ring, cqe);
    return 1;
}
