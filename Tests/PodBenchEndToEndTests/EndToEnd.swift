import Testing

/// Every end-to-end suite runs inside this one, one test at a time: they start real processes,
/// pin CPUs, fill /dev/shm and time peers out, and two of them at once would disturb each other's
/// figures (an A/A comparison of two runs measured under different loads is not A/A).
@Suite(.serialized)
enum EndToEnd {}
