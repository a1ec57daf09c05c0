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
    /// `halfWindow` samples have no full window and are kept as they are. Input must be finite
    /// (`dropInvalid` runs first).
    ///
    /// Fast enough for an edge box's full sample stream, because nothing is sorted per sample:
    /// the window is kept sorted as it slides (one value out, one in), its median is the middle
    /// element, and the MAD is read from the sorted window (see `medianDeviation`). Both steps
    /// are written without data-dependent branches: on noisy signals a branch on "where does
    /// the new sample go" is a coin toss the processor loses half the time.
    public static func hampel(_ values: [Double], halfWindow: Int, threshold: Double) -> (values: [Double], replaced: Int) {
        guard halfWindow > 0, values.count > 2 * halfWindow else { return (values, 0) }
        if halfWindow == 3 { return hampel7(values, threshold: threshold) }
        var output = values
        var replaced = 0
        let width = 2 * halfWindow + 1
        var buffers = Array(values[0..<width]).sorted() + [Double](repeating: 0, count: width)
        let limit = 1.4826 * threshold
        values.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                buffers.withUnsafeMutableBufferPointer { both in
                    var window = UnsafeMutableBufferPointer(rebasing: both[0..<width])
                    var spare = UnsafeMutableBufferPointer(rebasing: both[width..<(2 * width)])
                    var index = halfWindow
                    while true {
                        let median = window[halfWindow]
                        let mad = medianDeviation(window, halfWindow: halfWindow)
                        let value = input[index]
                        if abs(value - median) > limit * mad, mad > 0 {
                            out[index] = median
                            replaced += 1
                        }
                        index += 1
                        if index + halfWindow >= input.count { break }
                        slide(from: window, into: spare, removing: input[index - halfWindow - 1], adding: input[index + halfWindow])
                        swap(&window, &spare)
                    }
                }
            }
        }
        return (output, replaced)
    }

    /// The default window (3 each side) without memory traffic: each window of 7 is sorted in
    /// registers by a 16-comparator network of branch-free min/max, then the median and MAD
    /// are read off as in the general case. Same results as the sliding window, exactly.
    static func hampel7(_ values: [Double], threshold: Double) -> (values: [Double], replaced: Int) {
        var output = values
        var replaced = 0
        let limit = 1.4826 * threshold
        values.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                for index in 3..<(input.count - 3) {
                    var a0 = input[index - 3], a1 = input[index - 2], a2 = input[index - 1], a3 = input[index]
                    var a4 = input[index + 1], a5 = input[index + 2], a6 = input[index + 3]
                    @inline(__always) func order(_ x: inout Double, _ y: inout Double) {
                        let low = min(x, y)
                        y = max(x, y)
                        x = low
                    }
                    order(&a0, &a6); order(&a2, &a3); order(&a4, &a5)
                    order(&a0, &a2); order(&a1, &a4); order(&a3, &a6)
                    order(&a0, &a1); order(&a2, &a5); order(&a3, &a4)
                    order(&a1, &a2); order(&a4, &a6)
                    order(&a2, &a3); order(&a4, &a5)
                    order(&a1, &a2); order(&a3, &a4); order(&a5, &a6)
                    let median = a3
                    // k from the left, 3 − k from the right (see `medianDeviation`).
                    let mad = min(min(a6 - median, max(median - a2, a5 - median)), min(max(median - a1, a4 - median), median - a0))
                    let value = input[index]
                    if abs(value - median) > limit * mad, mad > 0 {
                        out[index] = median
                        replaced += 1
                    }
                }
            }
        }
        return (output, replaced)
    }

    /// Writes into `next` the sorted window `window` with `old` removed and `new` inserted.
    /// Positions are counted, not searched: `old` sits after every smaller value, and `new`
    /// lands after every smaller remaining value; each output slot then picks its source by
    /// comparison alone.
    @inline(__always)
    static func slide(from window: UnsafeMutableBufferPointer<Double>, into next: UnsafeMutableBufferPointer<Double>,
                      removing old: Double, adding new: Double) {
        let count = window.count
        var removed = 0, below = 0
        for slot in 0..<count {
            removed &+= window[slot] < old ? 1 : 0
            below &+= window[slot] < new ? 1 : 0
        }
        // `below` counted `old` too when it is smaller than `new`.
        let target = old < new ? below &- 1 : below
        for slot in 0..<count {
            // The window without `old`, read at slot (or slot − 1 past the new value).
            let shifted = slot < target ? slot : slot &- 1
            let source = shifted < removed ? shifted : shifted &+ 1
            let value = window[min(max(source, 0), count - 1)]
            next[slot] = slot == target ? new : value
        }
    }

    /// The median of |xᵢ − m| over a sorted window of 2h + 1 values whose median m is the
    /// middle one. The deviations left of m grow leftwards (Lⱼ = m − x[h−1−j]), those right of
    /// it rightwards (Rⱼ = x[h+1+j] − m); with 0 for m itself, the median deviation is the
    /// h-th smallest of the rest, which takes k from the left and h − k from the right for the
    /// k that makes the larger of the two last ones smallest.
    @inline(__always)
    static func medianDeviation(_ window: UnsafeMutableBufferPointer<Double>, halfWindow: Int) -> Double {
        let median = window[halfWindow]
        var best = Double.infinity
        for fromLeft in 0...halfWindow {
            let left = fromLeft == 0 ? 0 : median - window[halfWindow - fromLeft]
            let fromRight = halfWindow - fromLeft
            let right = fromRight == 0 ? 0 : window[halfWindow + fromRight] - median
            best = min(best, max(left, right))
        }
        return best
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
