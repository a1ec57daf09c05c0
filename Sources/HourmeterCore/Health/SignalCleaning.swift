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
    /// 1.4826 scales the MAD to a standard deviation for Gaussian data. The first and last
    /// `halfWindow` samples have no full window and are kept as they are.
    ///
    /// Fast enough for an edge box's full sample stream: the window is kept sorted as it
    /// slides (one value out, one in, a shift of at most the window), its median is the middle
    /// element, and the MAD is read from the sorted window without sorting again: the
    /// deviations left of the median grow leftwards, those right of it grow rightwards, so the
    /// median deviation is found by merging the two runs for half a window.
    public static func hampel(_ values: [Double], halfWindow: Int, threshold: Double) -> (values: [Double], replaced: Int) {
        guard halfWindow > 0, values.count > 2 * halfWindow else { return (values, 0) }
        var output = values
        var replaced = 0
        let width = 2 * halfWindow + 1
        var sorted = Array(values[0..<width]).sorted()
        values.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                sorted.withUnsafeMutableBufferPointer { window in
                    var index = halfWindow
                    while true {
                        let median = window[halfWindow]
                        let mad = 1.4826 * medianDeviation(window, halfWindow: halfWindow)
                        let value = input[index]
                        if mad > 0, abs(value - median) > threshold * mad {
                            out[index] = median
                            replaced += 1
                        }
                        index += 1
                        if index + halfWindow >= input.count { break }
                        slide(window, removing: input[index - halfWindow - 1], adding: input[index + halfWindow])
                    }
                }
            }
        }
        return (output, replaced)
    }

    /// Replaces `old` in the sorted window by `new`, keeping it sorted (a shift, no allocation).
    @inline(__always)
    static func slide(_ window: UnsafeMutableBufferPointer<Double>, removing old: Double, adding new: Double) {
        // Finite input is assumed (`dropInvalid` runs first); the bound only keeps a NaN from
        // running past the window.
        var position = 0
        while position < window.count - 1, window[position] != old { position += 1 }
        // Shift towards the removed slot until `new` fits.
        while position > 0, window[position - 1] > new {
            window[position] = window[position - 1]
            position -= 1
        }
        while position < window.count - 1, window[position + 1] < new {
            window[position] = window[position + 1]
            position += 1
        }
        window[position] = new
    }

    /// The median of |xᵢ − m| over a sorted window of 2h + 1 values whose median m is the
    /// middle one: the (h+1)-th smallest of 0, the left run m − x[h−1−j] and the right run
    /// x[h+1+j] − m, both increasing.
    @inline(__always)
    static func medianDeviation(_ window: UnsafeMutableBufferPointer<Double>, halfWindow: Int) -> Double {
        let median = window[halfWindow]
        var left = 0, right = 0, current = 0.0
        // The median itself contributes the smallest deviation, 0; h more are taken.
        for _ in 0..<halfWindow {
            let fromLeft = left < halfWindow ? median - window[halfWindow - 1 - left] : .infinity
            let fromRight = right < halfWindow ? window[halfWindow + 1 + right] - median : .infinity
            if fromLeft <= fromRight { current = fromLeft; left += 1 } else { current = fromRight; right += 1 }
        }
        return current
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
}
