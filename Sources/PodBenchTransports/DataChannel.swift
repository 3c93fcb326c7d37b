import PodBenchCore

/// A connected channel between the two sides: what every transport gives the workloads. Either a
/// reliable, ordered byte stream, or (`isDatagram`) one message per datagram, each whole or not at
/// all, which may be lost or reordered. Workloads are generic over the concrete channel type, so the
/// hot loop calls it statically, never through an existential.
public protocol DataChannel {
    /// Whether it carries datagrams: each `sendAll` is one datagram and each `receiveSome` returns
    /// one whole datagram; some may never arrive, or arrive out of order. The workloads then count
    /// losses and reordering instead of failing on them, and wait for each message at most its
    /// receive timeout (docs/datagrams.md). A constant of the type, so that the stream channels'
    /// loops carry no trace of it.
    static var isDatagram: Bool { get }

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
    public static var isDatagram: Bool { false }

    @inlinable
    public func flush() throws {}
}
