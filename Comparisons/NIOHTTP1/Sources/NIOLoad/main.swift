// `NIOLoad --target tcp:HOST:PORT --path P --seconds S [--cpu N]`: `podbench http-load`'s loop
// (one keep-alive connection, one GET outstanding, blocking send and receive, every response's
// status and body checked against the first) with the request encoded and the response decoded by
// SwiftNIO's NIOHTTP1 instead of podbench's parser: bytes go between the socket and an
// EmbeddedChannel holding `addHTTPClientHandlers()`. Prints one JSON line like http-load --json's.
import Foundation
import Glibc
import Histogram
import NIOCore
import NIOEmbedded
import NIOHTTP1
import PodBenchCore
import PodBenchResults
import PodBenchTransports

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("NIOLoad: \(message)\n".utf8))
    exit(1)
}

var target = "tcp:127.0.0.1:8080"
var path = "/"
var seconds = 5.0
var cpu: Int?
var arguments = CommandLine.arguments.dropFirst()
while let option = arguments.popFirst() {
    guard let value = arguments.popFirst() else { fail("\(option) needs a value") }
    switch option {
    case "--target": target = value
    case "--path": path = value
    case "--seconds": seconds = Double(value) ?? seconds
    case "--cpu": cpu = Int(value)
    default: fail("unknown option \(option)")
    }
}
if let cpu { _ = try CPUPinning.pinCurrentThread(to: cpu) }

let address = try SocketAddress(parsing: target)
let socket = try SocketTransport.connect(
    to: address, kind: address.transport, options: TransportOptions(), timeoutNanoseconds: 10_000_000_000)
let host: String
switch address {
case .ipv4(let h, let p): host = "\(h):\(p)"
default: host = "localhost"
}

let channel = EmbeddedChannel()
try channel.pipeline.syncOperations.addHTTPClientHandlers()
var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
head.headers.add(name: "Host", value: host)
head.headers.add(name: "User-Agent", value: "podbench-nio")
head.headers.add(name: "Accept", value: "*/*")

var receive = channel.allocator.buffer(capacity: 256 << 10)
var outbound = channel.allocator.buffer(capacity: 1024)
var histogram = EncodedHistogram.makeLatencyHistogram()
var firstChecksum: UInt64?
var requests: UInt64 = 0
let cpuStart = CPUUsage.currentThread()
let started = MonotonicClock.now()
let deadline = started + UInt64(seconds * 1e9)
var now = started
while now < deadline {
    let sent = MonotonicClock.now()
    // Encode through the pipeline and put the bytes on the socket.
    try channel.writeOutbound(HTTPClientRequestPart.head(head))
    try channel.writeOutbound(HTTPClientRequestPart.end(nil))
    // One send a request, as http-load makes: the encoder's pieces (the head, an empty end) joined.
    outbound.clear()
    while var bytes = try channel.readOutbound(as: ByteBuffer.self) { outbound.writeBuffer(&bytes) }
    try outbound.withUnsafeReadableBytes { try socket.sendAll($0) }
    // Receive until the decoder hands out the response's end.
    var status: HTTPResponseStatus?
    var body = 0
    var checksum = PayloadChecksum.Accumulator()
    var ended = false
    while !ended {
        receive.clear()
        let n = try receive.writeWithUnsafeMutableBytes(minimumWritableBytes: 64 << 10) { raw in
            try socket.receiveSome(into: raw)
        }
        precondition(n > 0)
        try channel.writeInbound(receive)
        while let part = try channel.readInbound(as: HTTPClientResponsePart.self) {
            switch part {
            case .head(let response): status = response.status
            case .body(let bytes):
                body += bytes.readableBytes
                bytes.withUnsafeReadableBytes { checksum.add($0) }
            case .end: ended = true
            }
        }
    }
    now = MonotonicClock.now()
    guard status == .ok else { fail("request \(requests): status \(String(describing: status))") }
    let value = checksum.value
    if let firstChecksum, firstChecksum != value { fail("request \(requests): another body than the first") }
    firstChecksum = value
    histogram.record(now - sent)
    requests += 1
}
let elapsed = Double(now - started) / 1e9
let usage = CPUUsage.currentThread().since(cpuStart)
let summary = LatencySummary(histogram)
print(
    "{\"requests\":\(requests),\"requestsPerSecond\":\(Double(requests) / elapsed),\"latency\":{\"p50\":\(summary.p50),\"p99\":\(summary.p99)},\"cpuNanosecondsPerRequest\":\(Double(usage.userNanoseconds + usage.systemNanoseconds) / Double(requests)),\"body\":\(summary.count > 0 ? 1 : 0)}"
)
