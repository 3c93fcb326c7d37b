import PodBenchTransports

extension TransportOptions {
    /// Every option set, a hop's included: what a transport's own options are cut from.
    public static let everyOption: TransportOptions = {
        var o = TransportOptions(
            socketBufferBytes: 1 << 20, ringBytes: 4096, wait: "spin", follow: "poll:1ms", fsync: "each",
            segmentBytes: 1 << 20)
        o.uringBatch = 4
        o.uringSetup = "sqpoll"
        o.uringBuffers = "registered"
        o.via = .socket(address: .ipv4(host: "127.0.0.1", port: 9000))
        o.listen = .socket(address: .ipv4(host: "127.0.0.1", port: 9001))
        o.hop = "relay"
        return o
    }()
}
