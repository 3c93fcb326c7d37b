import PodBenchCore

/// A connected, reliable, ordered byte stream between the two sides: what every transport gives
/// the workloads. Workloads are generic over the concrete channel type, so the hot loop calls it
/// statically, never through an existential.
public protocol DataChannel {
    /// Sends all of `bytes`, blocking while the peer is not taking them. A channel that batches
    /// (io_uring) may queue them instead, after copying: they go at the latest with the next
    /// `receiveSome` or `flush`.
    /// - Throws: `.peerClosed` when the peer is gone, `.timeout` when it stops taking data.
    func sendAll(_ bytes: UnsafeRawBufferPointer) throws

    /// Sends whatever `sendAll` queued. Channels that never queue do nothing.
    func flush() throws

    /// Receives at least one byte and at most `buffer.count`.
    /// - Throws: `.peerClosed` at end of stream, `.timeout` when nothing arrives in time.
    func receiveSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int

    /// Tells the peer this side is gone (it sees end of stream at once) without releasing
    /// anything: used after a failed phase, before `close`.
    func shutdown()

    /// Releases the channel; further calls fail. Call once.
    func close()
}

extension DataChannel {
    @inlinable
    public func flush() throws {}
}
