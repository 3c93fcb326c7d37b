// C shim for what Swift cannot import from Glibc: functions behind _GNU_SOURCE (CPU_SET,
// sched_setaffinity, RUSAGE_THREAD), variadic calls (prctl, syscall). Every symbol is prefixed
// with the module name. Each returns -1 and leaves errno set on failure, like the call it wraps.
#ifndef CPODBENCHLINUX_H
#define CPODBENCHLINUX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

/// Pins the calling thread to one CPU (sched_setaffinity with a one-bit CPU_SET).
int CPodBenchLinux_pin_thread_to_cpu(int cpu);

/// Lets the calling thread run on the `count` CPUs in `cpus` (sched_setaffinity).
int CPodBenchLinux_set_thread_affinity(const int *cpus, int count);

/// Writes the calling thread's allowed CPUs into `cpus` (at most `capacity`), returns how many,
/// or -1 (sched_getaffinity).
int CPodBenchLinux_thread_affinity(int *cpus, int capacity);

/// The CPU the calling thread runs on now (sched_getcpu).
int CPodBenchLinux_current_cpu(void);

/// Resource usage of the calling thread only (getrusage(RUSAGE_THREAD)).
int CPodBenchLinux_thread_rusage(struct rusage *usage);

/// The user id of the process at the other end of a connected Unix socket, as the kernel recorded
/// it when the peer connected (getsockopt(SO_PEERCRED)).
int CPodBenchLinux_peer_uid(int fd, uint32_t *uid);

/// The process id of the process at the other end of a connected Unix socket, as this process's
/// PID namespace sees it (getsockopt(SO_PEERCRED)): 0 when that process is not visible here (its
/// namespace is not this one nor below it) or the socket is not a Unix socket.
int CPodBenchLinux_peer_pid(int fd, int32_t *pid);

/// pipe2(2) with O_CLOEXEC | O_NONBLOCK: `ends[0]` reads, `ends[1]` writes.
int CPodBenchLinux_pipe(int ends[2]);

/// pidfd_open(2): a descriptor referring to the process `pid` (flags 0).
int CPodBenchLinux_pidfd_open(int32_t pid);

/// Sends `count` (1 to 8) descriptors and one byte over a connected Unix socket (SCM_RIGHTS),
/// retrying EINTR: 0 when sent, -1 with errno.
int CPodBenchLinux_send_descriptors(int socket, const int *fds, int count, uint8_t byte);

/// Receives one byte and the descriptors that come with it (SCM_RIGHTS, close-on-exec) into `fds`
/// (at most `capacity`, 1 to 8): their count; 0 at end of stream; -1 with errno, EPROTO when the
/// message is not one byte with descriptors only, or holds more than `capacity` (every descriptor
/// received is then closed: none leaks).
int CPodBenchLinux_receive_descriptors(int socket, int *fds, int capacity, uint8_t *byte);

/// pidfd_getfd(2): a copy, close-on-exec, of the descriptor `target` of the process `pidfd` refers
/// to (same open file description). Needs ptrace access to that process.
int CPodBenchLinux_pidfd_getfd(int pidfd, int target);

/// process_vm_readv(2) with one range each side: copies `count` bytes at `remote` in the process
/// `pid` to `local` in this one. Returns the bytes copied (fewer when the remote range ends in
/// memory that is not mapped), or -1 with errno. Needs ptrace access to that process.
long CPodBenchLinux_read_process_memory(int32_t pid, void *local, uint64_t remote, size_t count);

/// The real-time signal the `signal` transport carries its messages in (SIGRTMIN + 5: glibc keeps
/// the first two for itself).
int CPodBenchLinux_message_signal(void);

/// The calling thread's id (gettid(2)), as this process's PID namespace numbers it.
int32_t CPodBenchLinux_thread_id(void);

/// Blocks `signal` in the calling thread only (pthread_sigmask), so that it stays pending for a
/// signalfd instead of being delivered.
int CPodBenchLinux_block_signal_in_thread(int signal);

/// A non-blocking, close-on-exec signalfd(2) for `signal`.
int CPodBenchLinux_signalfd(int signal);

/// rt_tgsigqueueinfo(2): queues `signal` to thread `thread` of process `process`, with `code`
/// (negative: a queued signal) and `value` as its sigval (8 bytes).
int CPodBenchLinux_queue_signal(int32_t process, int32_t thread, int signal, int code, uint64_t value);

/// Reads up to `capacity` (at most 64) queued signals from the signalfd `fd`: each one's code,
/// sigval and sender's pid. Returns how many, or -1 with errno (EAGAIN: none pending).
int CPodBenchLinux_read_signals(int fd, int32_t *codes, uint64_t *values, int32_t *senders, int capacity);

/// Asks the kernel to send `signal` to this process when its parent dies
/// (prctl(PR_SET_PDEATHSIG)).
int CPodBenchLinux_set_parent_death_signal(int signal);

/// pidfd_send_signal(2): `signal` to the process `pidfd` refers to (ESRCH once it has ended,
/// whoever has its PID since).
int CPodBenchLinux_pidfd_send_signal(int pidfd, int signal);

/// Tries io_uring_setup(2) with one entry and closes the ring at once. Returns 0 when io_uring
/// works here, else -1 with errno (ENOSYS: blocked by seccomp or not built in; EPERM: disabled
/// by kernel.io_uring_disabled or a seccomp rule).
int CPodBenchLinux_probe_io_uring(void);

/// The filesystem type magic of `path` (statfs(2) f_type), e.g. 0x01021994 for tmpfs.
int CPodBenchLinux_filesystem_type(const char *path, long *type);

/// Sleeps while `*word == expected` (futex(FUTEX_WAIT), shared between processes: no
/// FUTEX_PRIVATE_FLAG), at most `timeout_ns` nanoseconds. Returns 0 when woken, -1 with errno
/// EAGAIN (the word had changed), ETIMEDOUT or EINTR.
int CPodBenchLinux_futex_wait(uint32_t *word, uint32_t expected, uint64_t timeout_ns);

/// Wakes up to `count` processes sleeping on `word` (futex(FUTEX_WAKE), shared). Returns how many.
int CPodBenchLinux_futex_wake(uint32_t *word, int count);

/// The CPU's spin-wait hint (x86 PAUSE, arm YIELD).
void CPodBenchLinux_cpu_relax(void);

/// Asks the CPU to bring the cache line at `address` in for reading, without waiting for it and
/// without it counting as a load (so no data race with a writer of that line): a spinning ring
/// consumer fetches a record's second line at the same time as its first.
static inline void CPodBenchLinux_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }

/// Takes an open-file-description write lock on byte `offset` of `fd` without waiting
/// (fcntl(F_OFD_SETLK)). The kernel drops it when the process dies, whatever its PID namespace:
/// that is how a peer's death is seen.
int CPodBenchLinux_lock_byte(int fd, long offset);

/// Whether another open file description holds a lock on byte `offset` of `fd`
/// (fcntl(F_OFD_GETLK)): 1 held, 0 free, -1 error.
int CPodBenchLinux_byte_locked(int fd, long offset);

/// Installs a seccomp filter on the whole process (all threads, inherited by children) that
/// fails io_uring_setup(2) with `error` (ENOSYS as podman's default profile does, EPERM as
/// Docker's does) and allows everything else: how tests see a container that blocks io_uring.
/// 0, or -1 with errno.
int CPodBenchLinux_deny_io_uring(int error);

/// Sets the calling thread's timer slack (prctl(PR_SET_TIMERSLACK)): how late the kernel may
/// wake it from a sleep, 50 us by default. 0 or -1 with errno.
int CPodBenchLinux_set_timer_slack(unsigned long nanoseconds);

/// A system call that does nothing but enter and leave the kernel (syscall(SYS_getppid)).
long CPodBenchLinux_null_syscall(void);

/// Swaps the names `a` and `b` in one step, both of which must exist (renameat2(RENAME_EXCHANGE));
/// EINVAL where the filesystem cannot.
int CPodBenchLinux_rename_exchange(const char *a, const char *b);

/// Waits until `fd` is readable (or its peer hung up) or `nanoseconds` pass (ppoll: a timeout finer
/// than poll's milliseconds). Returns 1 when readable, 0 at the timeout.
int CPodBenchLinux_wait_readable(int fd, int64_t nanoseconds);

/// Waits until `fd` has one of `events` (POLLIN, POLLOUT; hang-up and errors always count) or
/// `nanoseconds` pass (ppoll). Returns the events that came (revents), 0 at the timeout, -1 on error.
int CPodBenchLinux_poll_one(int fd, short events, int64_t nanoseconds);

#endif
