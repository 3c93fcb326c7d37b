import PodBenchCore
import SystemPackage

/// A connected stream socket (TCP or Unix) as a `DataChannel`.
public struct SocketChannel: DataChannel, Sendable {
    public let descriptor: FileDescriptor

    public init(descriptor: FileDescriptor) {
        self.descriptor = descriptor
    }

    @inlinable
    public func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            offset += try descriptor.send(rest)
        }
    }

    @inlinable
    public func receiveSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try descriptor.receive(into: buffer)
        if n == 0 { throw PodBenchError(.peerClosed, "the peer closed the data connection") }
        return n
    }

    public func shutdown() {
        descriptor.shutdownBoth()
    }

    public func close() {
        try? descriptor.close()
    }
}
