// liburing (Debian's liburing-dev, found through pkg-config), for the io_uring transports only.
// Its static inline helpers (io_uring_get_sqe, io_uring_prep_send, io_uring_cqe_seen, ...) are
// callable from Swift as they are; nothing here needs a C shim.
#include <liburing.h>
