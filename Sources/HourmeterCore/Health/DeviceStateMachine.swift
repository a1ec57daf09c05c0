/// A machine's operating state from a load signal (power, current or speed), with hysteresis:
/// a state is entered when the load rises past its threshold and left only when it falls below
/// that threshold minus the hysteresis, so a load hovering at a threshold does not flap. Run
/// time and energy are accumulated per state.
public struct DeviceStateMachine: Sendable {
    public enum State: String, Sendable, CaseIterable { case off, idle, running, peak }

    /// Load at which idle, running and peak begin (increasing).
    public var idleFrom: Double
    public var runningFrom: Double
    public var peakFrom: Double
    /// How far below a threshold the load must fall to leave the state above it.
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
            // Staying in the current state needs only its threshold − hysteresis; any other
            // state is entered at its threshold.
            let needed = rank == current ? threshold - hysteresis : threshold
            if load >= needed { return candidate }
        }
        return .off
    }

    /// Takes a sample held for `seconds`: moves the state, then accounts the time and energy to it.
    public mutating func observe(load: Double, seconds duration: Double) {
        state = next(for: load)
        seconds[state, default: 0] += duration
        energy[state, default: 0] += max(0, load) * duration / 3600
    }
}
