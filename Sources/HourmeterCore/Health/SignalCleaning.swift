/// Raw sensor samples made fit for features: impossible values dropped (and counted, never
/// hidden), spikes replaced by a Hampel filter, and the series resampled to a fixed number of samples per second.
/// Sensor physics, not money: plain `Double`s are the right type here, and no parameter is
/// named like an amount (a sampling frequency is `samplesPerSecond`, not a "rate").
public struct CleanedSignal: Sendable, Equatable {
    public var values: [Double]
    /// NaN or infinite samples dropped.
    public var nonFinite: Int
    /// Samples outside the channel's physical range dropped.
    public var outOfRange: Int
    /// Samples the Hampel filter replaced by their window's median.
    public var outliers: Int
}

public enum SignalCleaning {
    /// Drops non-finite samples and those outside `range`, counting each kind.
    public static func dropInvalid(_ samples: [Double], range: ClosedRange<Double>) -> CleanedSignal {
        var kept: [Double] = []
        kept.reserveCapacity(samples.count)
        var nonFinite = 0, outOfRange = 0
        for sample in samples {
            if !sample.isFinite { nonFinite += 1 } else if !range.contains(sample) { outOfRange += 1 } else { kept.append(sample) }
        }
        return CleanedSignal(values: kept, nonFinite: nonFinite, outOfRange: outOfRange, outliers: 0)
    }

    /// The Hampel filter: a sample further than `threshold` scaled median absolute deviations
    /// from the median of the `halfWindow` samples on each side is replaced by that median.
    /// 1.4826 scales the MAD to a standard deviation for Gaussian data.
    public static func hampel(_ values: [Double], halfWindow: Int, threshold: Double) -> (values: [Double], replaced: Int) {
        guard halfWindow > 0, values.count > 2 * halfWindow else { return (values, 0) }
        var output = values
        var replaced = 0
        var window = [Double](repeating: 0, count: 2 * halfWindow + 1)
        var deviations = window
        for index in halfWindow..<(values.count - halfWindow) {
            for offset in 0..<window.count { window[offset] = values[index - halfWindow + offset] }
            let median = Self.median(&window)
            for offset in 0..<window.count { deviations[offset] = abs(values[index - halfWindow + offset] - median) }
            let mad = 1.4826 * Self.median(&deviations)
            if abs(values[index] - median) > threshold * mad, mad > 0 {
                output[index] = median
                replaced += 1
            }
        }
        return (output, replaced)
    }

    /// Linear resampling of samples taken at `times` (seconds, increasing) to `samplesPerSecond` from
    /// the first time to the last.
    public static func resample(times: [Double], values: [Double], samplesPerSecond: Double) -> [Double] {
        guard times.count == values.count, times.count >= 2, samplesPerSecond > 0, let first = times.first, let last = times.last, last > first else {
            return values
        }
        let count = Int(((last - first) * samplesPerSecond).rounded(.down)) + 1
        var output: [Double] = []
        output.reserveCapacity(count)
        var segment = 0
        for step in 0..<count {
            let time = first + Double(step) / samplesPerSecond
            while segment < times.count - 2, times[segment + 1] < time { segment += 1 }
            let span = times[segment + 1] - times[segment]
            let fraction = span > 0 ? (time - times[segment]) / span : 0
            output.append(values[segment] + (values[segment + 1] - values[segment]) * min(max(fraction, 0), 1))
        }
        return output
    }

    static func median(_ values: inout [Double]) -> Double {
        values.sort()
        let middle = values.count / 2
        return values.count % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2
    }
}
