/// A machine's operating state from one signal (power, current or speed), with hysteresis:
/// a state is entered when the signal rises past its threshold and left only when it falls
/// below that threshold less a fraction of it, so a signal hovering at a threshold does not
/// flap. The band is relative so that it suits kW, A and rpm alike and never reaches below
/// zero: a machine that stops always gets back to off. Run time and energy are accumulated
/// per state.
public struct DeviceStateMachine: Sendable {
    public enum State: String, Sendable, CaseIterable { case off, idle, running, peak }

    /// Load at which idle, running and peak begin (increasing).
    public var idleFrom: Double
    public var runningFrom: Double
    public var peakFrom: Double
    /// How far below its threshold, as a fraction of it (0 ≤ f < 1), the signal must fall to
    /// leave a state.
    public var hysteresis: Double

    public private(set) var state: State = .off
    public private(set) var seconds: [State: Double] = [:]
    /// Energy by state, in the load's unit × hours (kWh for a load in kW).
    public private(set) var energy: [State: Double] = [:]

    /// `state` is where a resumed agent left off (hysteresis depends on it).
    public init(idleFrom: Double, runningFrom: Double, peakFrom: Double, hysteresis: Double, state: State = .off) {
        self.idleFrom = idleFrom
        self.runningFrom = runningFrom
        self.peakFrom = peakFrom
        self.hysteresis = hysteresis
        self.state = state
    }

    /// The time and energy accounted since the last call, by state, and starts again from
    /// nothing (the state itself is kept): one interval's usage.
    public mutating func takeTotals() -> (seconds: [State: Double], energy: [State: Double]) {
        defer { seconds = [:]; energy = [:] }
        return (seconds, energy)
    }

    /// The state a load asks for, given the current one (hysteresis on the way down).
    public func next(for load: Double) -> State {
        let thresholds: [(State, Double)] = [(.peak, peakFrom), (.running, runningFrom), (.idle, idleFrom)]
        let current = State.allCases.firstIndex(of: state)!
        for (candidate, threshold) in thresholds {
            let rank = State.allCases.firstIndex(of: candidate)!
            // Staying in the current state needs only its threshold × (1 − hysteresis); any
            // other state is entered at its threshold.
            let needed = rank == current ? threshold * (1 - hysteresis) : threshold
            if load >= needed { return candidate }
        }
        return .off
    }

    /// Takes a sample of the state signal held for `seconds`: moves the state, then accounts the
    /// time and energy to it. `power` (kW) is the power drawn meanwhile when the state signal is
    /// not power itself (current, speed); nil means the signal is the power.
    public mutating func observe(load: Double, seconds duration: Double, power: Double? = nil) {
        state = next(for: load)
        seconds[state, default: 0] += duration
        energy[state, default: 0] += max(0, power ?? load) * duration / 3600
    }
}
