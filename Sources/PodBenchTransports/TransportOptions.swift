/// Options of a transport that change what is measured, so they are part of a case's key.
public struct TransportOptions: Codable, Hashable, Sendable {
    /// SO_SNDBUF and SO_RCVBUF in bytes on both sides, nil for the kernel's default.
    public var socketBufferBytes: Int?

    public init(socketBufferBytes: Int? = nil) {
        self.socketBufferBytes = socketBufferBytes
    }
}
