/// podbench's own version, recorded in every results file and checked on the control channel.
public enum PodBenchVersion {
    /// The release version of this build.
    public static let version = "0.1.0"
    /// The version of the control protocol; both sides must speak the same one.
    public static let controlProtocol: UInt16 = 9
    /// The version of the results file's schema.
    public static let resultsSchema = 1
}
