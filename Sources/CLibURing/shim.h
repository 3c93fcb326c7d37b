// Only CPodBenchURing's C source includes liburing; see CPodBenchURing.h for why Swift does not.
#include <liburing.h>
