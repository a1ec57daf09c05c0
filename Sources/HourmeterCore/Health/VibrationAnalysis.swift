/// The edge's hot path for one vibration window: raw acceleration in, cleaned features and
/// broadband RMS velocity out. This is what `hourmeter bench edge` measures.
public struct CleaningSettings: Sendable, Equatable {
    /// Physically possible acceleration (m/s²); a sample outside is a sensor fault, dropped and counted.
    public var range: ClosedRange<Double>
    /// Samples each side of the Hampel window, and how many scaled MADs make an outlier.
    public var hampelHalfWindow: Int
    public var hampelThreshold: Double
    /// High-pass corner of the velocity integration, against drift. ISO 10816 measures from
    /// 10 Hz, but a first-order filter cornered there already takes 7 % off a 25 Hz (1500 rpm)
    /// shaft's velocity, enough to move a machine across a zone boundary; at 2 Hz it takes
    /// 0.3 % and still stops the drift (the window's mean is removed before integrating).
    public var highPassHz: Double

    public init(range: ClosedRange<Double> = -500...500, hampelHalfWindow: Int = 3, hampelThreshold: Double = 3, highPassHz: Double = 2) {
        self.range = range
        self.hampelHalfWindow = hampelHalfWindow
        self.hampelThreshold = hampelThreshold
        self.highPassHz = highPassHz
    }
}

public struct VibrationAnalysis: Sendable, Equatable {
    /// Features of the cleaned acceleration (m/s²).
    public var acceleration: WindowFeatures
    /// Broadband RMS velocity (mm/s), what the severity zones judge.
    public var velocityRMS: Double
    public var droppedNonFinite: Int
    public var droppedOutOfRange: Int
    public var outliersReplaced: Int

    public init(samples: [Double], samplesPerSecond: Double, settings: CleaningSettings = CleaningSettings()) {
        let valid = SignalCleaning.dropInvalid(samples, range: settings.range)
        let (cleaned, replaced) = SignalCleaning.hampel(valid.values, halfWindow: settings.hampelHalfWindow, threshold: settings.hampelThreshold)
        acceleration = WindowFeatures(cleaned)
        let velocity = VibrationVelocity.fromAcceleration(cleaned, samplesPerSecond: samplesPerSecond, cutoffHz: settings.highPassHz)
        // The filter starts from rest: skip its settling time (three time constants, at most a
        // quarter of the window) so the start-up transient does not lower the RMS.
        let settle = min(velocity.count / 4, Int(3 / (2 * Double.pi * settings.highPassHz) * samplesPerSecond))
        var sumSquares = 0.0
        velocity.withUnsafeBufferPointer { buffer in
            for index in settle..<buffer.count { sumSquares += buffer[index] * buffer[index] }
        }
        velocityRMS = velocity.count > settle ? (sumSquares / Double(velocity.count - settle)).squareRoot() : 0
        droppedNonFinite = valid.nonFinite
        droppedOutOfRange = valid.outOfRange
        outliersReplaced = replaced
    }
}
