#include "CPodBenchLinux.h"

#ifdef __linux__
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <signal.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <time.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <stddef.h>
#include <linux/audit.h>
#include <poll.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#if defined(__x86_64__)
#define PODBENCH_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define PODBENCH_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

int CPodBenchLinux_pin_thread_to_cpu(int cpu) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) {
        errno = EINVAL;
        return -1;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set);
}

int CPodBenchLinux_set_thread_affinity(const int *cpus, int count) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < count; i++) {
        if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE) {
            errno = EINVAL;
            return -1;
        }
        CPU_SET(cpus[i], &set);
    }
    return sched_setaffinity(0, sizeof(set), &set);
}

int CPodBenchLinux_thread_affinity(int *cpus, int capacity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) {
        return -1;
    }
    int count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && count < capacity; cpu++) {
        if (CPU_ISSET(cpu, &set)) {
            cpus[count++] = cpu;
        }
    }
    return count;
}

int CPodBenchLinux_current_cpu(void) { return sched_getcpu(); }

int CPodBenchLinux_thread_rusage(struct rusage *usage) { return getrusage(RUSAGE_THREAD, usage); }

int CPodBenchLinux_peer_uid(int fd, uint32_t *uid) {
    struct ucred credentials;
    socklen_t length = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    *uid = (uint32_t)credentials.uid;
    return 0;
}

int CPodBenchLinux_peer_pid(int fd, int32_t *pid) {
    struct ucred credentials;
    socklen_t length = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    *pid = (int32_t)credentials.pid;
    return 0;
}

int CPodBenchLinux_pipe(int ends[2]) { return pipe2(ends, O_CLOEXEC | O_NONBLOCK); }

int CPodBenchLinux_pidfd_open(int32_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, (pid_t)pid, 0U);
#else
    return (int)syscall(434, (pid_t)pid, 0U);
#endif
}

int CPodBenchLinux_pidfd_getfd(int pidfd, int target) {
#ifdef SYS_pidfd_getfd
    return (int)syscall(SYS_pidfd_getfd, pidfd, target, 0U);
#else
    return (int)syscall(438, pidfd, target, 0U);
#endif
}

int CPodBenchLinux_send_descriptors(int socket, const int *fds, int count, uint8_t byte) {
    if (count < 1 || count > 8) {
        errno = EINVAL;
        return -1;
    }
    union {
        char buffer[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct iovec data = { .iov_base = &byte, .iov_len = 1 };
    struct msghdr message = {
        .msg_iov = &data, .msg_iovlen = 1, .msg_control = control.buffer,
        .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)count),
    };
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)count);
    memcpy(CMSG_DATA(header), fds, sizeof(int) * (size_t)count);
    ssize_t n;
    do {
        n = sendmsg(socket, &message, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -1;
}

int CPodBenchLinux_receive_descriptors(int socket, int *fds, int capacity, uint8_t *byte) {
    if (capacity < 1 || capacity > 8) {
        errno = EINVAL;
        return -1;
    }
    union {
        char buffer[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct iovec data = { .iov_base = byte, .iov_len = 1 };
    struct msghdr message = {
        .msg_iov = &data, .msg_iovlen = 1, .msg_control = control.buffer, .msg_controllen = sizeof control.buffer,
    };
    ssize_t n;
    do {
        n = recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -1;
    // Every descriptor that arrived is either handed out or closed here: none leaks, whatever
    // the peer sent (several messages, other kinds, more than asked).
    int count = 0;
    int refused = 0;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) {
            refused = 1;
            continue;
        }
        size_t length = header->cmsg_len >= CMSG_LEN(0) ? header->cmsg_len - CMSG_LEN(0) : 0;
        size_t arrived = length / sizeof(int);
        for (size_t i = 0; i < arrived; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof fd);
            if (count < capacity) {
                fds[count++] = fd;
            } else {
                close(fd);
                refused = 1;
            }
        }
    }
    if (n == 0 && count == 0) return 0;  // end of stream
    if (refused || (message.msg_flags & MSG_CTRUNC) || n != 1 || count == 0) {
        for (int i = 0; i < count; i++) close(fds[i]);
        errno = EPROTO;
        return -1;
    }
    return count;
}

long CPodBenchLinux_read_process_memory(int32_t pid, void *local, uint64_t remote, size_t count) {
    struct iovec here = { .iov_base = local, .iov_len = count };
    struct iovec there = { .iov_base = (void *)(uintptr_t)remote, .iov_len = count };
    return (long)syscall(SYS_process_vm_readv, (pid_t)pid, &here, 1UL, &there, 1UL, 0UL);
}

int CPodBenchLinux_message_signal(void) { return SIGRTMIN + 5; }

int32_t CPodBenchLinux_thread_id(void) { return (int32_t)syscall(SYS_gettid); }

int CPodBenchLinux_block_signal_in_thread(int signal) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signal);
    int rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return 0;
}

int CPodBenchLinux_signalfd(int signal) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signal);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int CPodBenchLinux_queue_signal(int32_t process, int32_t thread, int signal, int code, uint64_t value) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    info.si_signo = signal;
    info.si_code = code;
    info.si_pid = getpid();
    info.si_uid = getuid();
    info.si_value.sival_ptr = (void *)(uintptr_t)value;
    return (int)syscall(SYS_rt_tgsigqueueinfo, (pid_t)process, (pid_t)thread, signal, &info);
}

int CPodBenchLinux_read_signals(int fd, int32_t *codes, uint64_t *values, int32_t *senders, int capacity) {
    struct signalfd_siginfo batch[64];
    if (capacity > 64) capacity = 64;
    if (capacity < 1) {
        errno = EINVAL;
        return -1;
    }
    ssize_t n = read(fd, batch, sizeof batch[0] * (size_t)capacity);
    if (n < 0) return -1;
    int count = (int)(n / (ssize_t)sizeof batch[0]);
    for (int i = 0; i < count; i++) {
        codes[i] = batch[i].ssi_code;
        values[i] = batch[i].ssi_ptr;
        senders[i] = (int32_t)batch[i].ssi_pid;
    }
    return count;
}

int CPodBenchLinux_set_parent_death_signal(int signal) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0UL, 0UL, 0UL);
}

int CPodBenchLinux_pidfd_send_signal(int pidfd, int signal) {
#ifdef SYS_pidfd_send_signal
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0U);
#else
    return (int)syscall(424, pidfd, signal, NULL, 0U);
#endif
}

int CPodBenchLinux_probe_io_uring(void) {
#ifdef SYS_io_uring_setup
    // struct io_uring_params is 120 bytes; zeroed means "no flags". Declared as bytes so that
    // this shim needs no kernel header beyond syscall numbers.
    unsigned char params[120];
    memset(params, 0, sizeof(params));
    long fd = syscall(SYS_io_uring_setup, 1, params);
    if (fd < 0) {
        return -1;
    }
    close((int)fd);
    return 0;
#else
    errno = ENOSYS;
    return -1;
#endif
}

int CPodBenchLinux_futex_wait(uint32_t *word, uint32_t expected, uint64_t timeout_ns) {
    struct timespec timeout;
    timeout.tv_sec = (time_t)(timeout_ns / 1000000000ULL);
    timeout.tv_nsec = (long)(timeout_ns % 1000000000ULL);
    long rc = syscall(SYS_futex, word, FUTEX_WAIT, expected, &timeout, NULL, 0);
    return rc == 0 ? 0 : -1;
}

int CPodBenchLinux_futex_wake(uint32_t *word, int count) {
    return (int)syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
}

void CPodBenchLinux_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* A write-lock request on the one byte at `offset`. */
static struct flock CPodBenchLinux_byte_lock(long offset) {
    struct flock lock;
    memset(&lock, 0, sizeof(lock));
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = offset;
    lock.l_len = 1;
    return lock;
}

int CPodBenchLinux_lock_byte(int fd, long offset) {
    struct flock lock = CPodBenchLinux_byte_lock(offset);
    return fcntl(fd, F_OFD_SETLK, &lock);
}

int CPodBenchLinux_byte_locked(int fd, long offset) {
    struct flock lock = CPodBenchLinux_byte_lock(offset);
    if (fcntl(fd, F_OFD_GETLK, &lock) != 0) {
        return -1;
    }
    return lock.l_type == F_UNLCK ? 0 : 1;
}

long CPodBenchLinux_null_syscall(void) { return syscall(SYS_getppid); }

int CPodBenchLinux_rename_exchange(const char *a, const char *b) {
#ifdef SYS_renameat2
    return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 2 /* RENAME_EXCHANGE */);
#else
    (void)a;
    (void)b;
    errno = ENOSYS;
    return -1;
#endif
}

int CPodBenchLinux_set_timer_slack(unsigned long nanoseconds) { return prctl(PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0); }

int CPodBenchLinux_deny_io_uring(int error) {
#if defined(SYS_io_uring_setup) && defined(SYS_seccomp) && defined(PODBENCH_AUDIT_ARCH)
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PODBENCH_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)error & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = {.len = sizeof filter / sizeof filter[0], .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &program) == 0 ? 0 : -1;
#else
    (void)error;
    errno = ENOSYS;
    return -1;
#endif
}

int CPodBenchLinux_filesystem_type(const char *path, long *type) {
    struct statfs fs;
    if (statfs(path, &fs) != 0) {
        return -1;
    }
    *type = (long)fs.f_type;
    return 0;
}

int CPodBenchLinux_wait_readable(int fd, int64_t nanoseconds) {
    struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
    if (nanoseconds < 0) nanoseconds = 0;
    struct timespec timeout = {.tv_sec = nanoseconds / 1000000000, .tv_nsec = nanoseconds % 1000000000};
    int rc = ppoll(&p, 1, &timeout, NULL);
    return rc < 0 ? -1 : (rc > 0 ? 1 : 0);
}

int CPodBenchLinux_poll_one(int fd, short events, int64_t nanoseconds) {
    struct pollfd p = {.fd = fd, .events = events, .revents = 0};
    if (nanoseconds < 0) nanoseconds = 0;
    struct timespec timeout = {.tv_sec = nanoseconds / 1000000000, .tv_nsec = nanoseconds % 1000000000};
    int rc = ppoll(&p, 1, &timeout, NULL);
    return rc < 0 ? -1 : (rc > 0 ? p.revents : 0);
}

#else
#include <errno.h>
int CPodBenchLinux_pin_thread_to_cpu(int cpu) { (void)cpu; errno = ENOSYS; return -1; }
int CPodBenchLinux_thread_affinity(int *cpus, int capacity) { (void)cpus; (void)capacity; errno = ENOSYS; return -1; }
int CPodBenchLinux_current_cpu(void) { errno = ENOSYS; return -1; }
int CPodBenchLinux_set_thread_affinity(const int *cpus, int count) { (void)cpus; (void)count; errno = ENOSYS; return -1; }
int CPodBenchLinux_thread_rusage(struct rusage *usage) { return getrusage(RUSAGE_SELF, usage); }
int CPodBenchLinux_peer_uid(int fd, uint32_t *uid) { (void)fd; (void)uid; errno = ENOSYS; return -1; }
int CPodBenchLinux_peer_pid(int fd, int32_t *pid) { (void)fd; (void)pid; errno = ENOSYS; return -1; }
int CPodBenchLinux_pipe(int ends[2]) { (void)ends; errno = ENOSYS; return -1; }
int CPodBenchLinux_pidfd_open(int32_t pid) { (void)pid; errno = ENOSYS; return -1; }
int CPodBenchLinux_pidfd_getfd(int pidfd, int target) { (void)pidfd; (void)target; errno = ENOSYS; return -1; }
int CPodBenchLinux_send_descriptors(int socket, const int *fds, int count, uint8_t byte) { (void)socket; (void)fds; (void)count; (void)byte; errno = ENOSYS; return -1; }
int CPodBenchLinux_receive_descriptors(int socket, int *fds, int capacity, uint8_t *byte) { (void)socket; (void)fds; (void)capacity; (void)byte; errno = ENOSYS; return -1; }
long CPodBenchLinux_read_process_memory(int32_t pid, void *local, uint64_t remote, size_t count) { (void)pid; (void)local; (void)remote; (void)count; errno = ENOSYS; return -1; }
int CPodBenchLinux_message_signal(void) { return 0; }
int32_t CPodBenchLinux_thread_id(void) { return 0; }
int CPodBenchLinux_block_signal_in_thread(int signal) { (void)signal; errno = ENOSYS; return -1; }
int CPodBenchLinux_signalfd(int signal) { (void)signal; errno = ENOSYS; return -1; }
int CPodBenchLinux_queue_signal(int32_t process, int32_t thread, int signal, int code, uint64_t value) { (void)process; (void)thread; (void)signal; (void)code; (void)value; errno = ENOSYS; return -1; }
int CPodBenchLinux_read_signals(int fd, int32_t *codes, uint64_t *values, int32_t *senders, int capacity) { (void)fd; (void)codes; (void)values; (void)senders; (void)capacity; errno = ENOSYS; return -1; }
int CPodBenchLinux_set_parent_death_signal(int signal) { (void)signal; errno = ENOSYS; return -1; }
int CPodBenchLinux_pidfd_send_signal(int pidfd, int signal) { (void)pidfd; (void)signal; errno = ENOSYS; return -1; }
int CPodBenchLinux_probe_io_uring(void) { errno = ENOSYS; return -1; }
int CPodBenchLinux_filesystem_type(const char *path, long *type) { (void)path; (void)type; errno = ENOSYS; return -1; }
int CPodBenchLinux_deny_io_uring(int error) { (void)error; errno = ENOSYS; return -1; }
int CPodBenchLinux_set_timer_slack(unsigned long nanoseconds) { (void)nanoseconds; errno = ENOSYS; return -1; }
int CPodBenchLinux_futex_wait(uint32_t *word, uint32_t expected, uint64_t timeout_ns) { (void)word; (void)expected; (void)timeout_ns; errno = ENOSYS; return -1; }
int CPodBenchLinux_futex_wake(uint32_t *word, int count) { (void)word; (void)count; errno = ENOSYS; return -1; }
void CPodBenchLinux_cpu_relax(void) {}
int CPodBenchLinux_lock_byte(int fd, long offset) { (void)fd; (void)offset; errno = ENOSYS; return -1; }
int CPodBenchLinux_byte_locked(int fd, long offset) { (void)fd; (void)offset; errno = ENOSYS; return -1; }
long CPodBenchLinux_null_syscall(void) { return 0; }
int CPodBenchLinux_rename_exchange(const char *a, const char *b) { (void)a; (void)b; errno = ENOSYS; return -1; }
int CPodBenchLinux_wait_readable(int fd, int64_t nanoseconds) { (void)fd; (void)nanoseconds; errno = ENOSYS; return -1; }
int CPodBenchLinux_poll_one(int fd, short events, int64_t nanoseconds) { (void)fd; (void)events; (void)nanoseconds; errno = ENOSYS; return -1; }
#endif
