/// Statistics of one window of a cleaned signal. Kurtosis is Pearson's (3 for a Gaussian, 1.5
/// for a sine); `excessKurtosis` is kurtosis − 3 (0 for a Gaussian): the two are named apart
/// because vendors mix them up and a bearing alarm depends on which one is meant.
public struct WindowFeatures: Sendable, Equatable {
    public var count: Int
    public var mean: Double
    public var standardDeviation: Double
    public var rms: Double
    /// Largest absolute value.
    public var peak: Double
    public var peakToPeak: Double
    /// peak / RMS (√2 for a sine).
    public var crestFactor: Double
    public var kurtosis: Double
    public var excessKurtosis: Double { kurtosis - 3 }
    public var skewness: Double

    /// The features of `values` in two passes (mean, then central moments), no allocation.
    public init(_ values: [Double]) {
        count = values.count
        guard !values.isEmpty else {
            mean = 0; standardDeviation = 0; rms = 0; peak = 0; peakToPeak = 0; crestFactor = 0; kurtosis = 0; skewness = 0
            return
        }
        var sum = 0.0, sumSquares = 0.0, minimum = Double.infinity, maximum = -Double.infinity
        for value in values {
            sum += value
            sumSquares += value * value
            if value < minimum { minimum = value }
            if value > maximum { maximum = value }
        }
        let n = Double(values.count)
        mean = sum / n
        var m2 = 0.0, m3 = 0.0, m4 = 0.0
        for value in values {
            let d = value - mean, d2 = d * d
            m2 += d2
            m3 += d2 * d
            m4 += d2 * d2
        }
        m2 /= n; m3 /= n; m4 /= n
        standardDeviation = m2.squareRoot()
        rms = (sumSquares / n).squareRoot()
        peak = max(abs(minimum), abs(maximum))
        peakToPeak = maximum - minimum
        crestFactor = rms > 0 ? peak / rms : 0
        kurtosis = m2 > 0 ? m4 / (m2 * m2) : 0
        skewness = m2 > 0 ? m3 / (m2 * m2.squareRoot()) : 0
    }
}

public enum VibrationVelocity {
    /// Velocity (mm/s) from acceleration (m/s²) sampled `samplesPerSecond` times a second: trapezoidal integration,
    /// with a first-order high-pass filter at `cutoffHz` against the drift an integrator
    /// accumulates from any offset in the accelerometer (ISO 10816 measures from 10 Hz up).
    public static func fromAcceleration(_ acceleration: [Double], samplesPerSecond: Double, cutoffHz: Double = 10) -> [Double] {
        guard acceleration.count > 1, samplesPerSecond > 0 else { return [] }
        let dt = 1 / samplesPerSecond
        let rc = 1 / (2 * Double.pi * cutoffHz)
        let alpha = rc / (rc + dt)
        // Remove the mean first: an accelerometer's offset would otherwise integrate into a ramp.
        let offset = acceleration.reduce(0, +) / Double(acceleration.count)
        var velocity = [Double](repeating: 0, count: acceleration.count)
        var integrated = 0.0, previousIntegrated = 0.0, filtered = 0.0
        for index in 1..<acceleration.count {
            integrated += (acceleration[index] + acceleration[index - 1] - 2 * offset) / 2 * dt
            filtered = alpha * (filtered + integrated - previousIntegrated)
            previousIntegrated = integrated
            velocity[index] = filtered * 1000  // m/s → mm/s
        }
        return velocity
    }
}

public enum TemperatureTrend {
    /// Mean and least-squares slope per hour of temperatures taken at `times` (seconds).
    public static func meanAndSlopePerHour(times: [Double], values: [Double]) -> (mean: Double, slopePerHour: Double) {
        guard times.count == values.count, !values.isEmpty else { return (0, 0) }
        let n = Double(values.count)
        let meanTime = times.reduce(0, +) / n, meanValue = values.reduce(0, +) / n
        var covariance = 0.0, variance = 0.0
        for index in values.indices {
            covariance += (times[index] - meanTime) * (values[index] - meanValue)
            variance += (times[index] - meanTime) * (times[index] - meanTime)
        }
        return (meanValue, variance > 0 ? covariance / variance * 3600 : 0)
    }
}
