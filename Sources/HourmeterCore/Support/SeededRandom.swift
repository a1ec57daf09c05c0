/// SplitMix64: a small, fast generator whose whole output follows from its seed, for
/// simulations that must give the same numbers on every run and every machine (the edge
/// simulator's event ids depend on it). Not for secrets.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for one part of a simulation (a device, a window), independent of how many
    /// numbers other parts drew: the parts' seeds are mixed into one.
    public init(seed: UInt64, _ parts: UInt64...) {
        var mixed = SeededRandom(seed: seed)
        for part in parts { mixed = SeededRandom(seed: mixed.next() ^ part) }
        state = mixed.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// A standard normal deviate (Box–Muller; one of the pair is used, which keeps the state
    /// simple and the sequence reproducible).
    public mutating func gaussian() -> Double {
        let u1 = max(unit(), 0x1p-53), u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
