/// The `percentage` charge model: a share of each event's value (a payment, a claim, a
/// financed amount) plus a fixed fee per event.
///
/// Semantics, event by event in the order they happened:
/// - The free part is the first `freeEvents` events and/or the first `freeTotal` of value.
///   When both are set, whichever the running count or running total reaches first ends it.
///   An event wholly inside the free part costs nothing (no fixed amount, no minimum). An
///   event that crosses `freeTotal` pays for the value above it, with its fixed amount.
/// - A paying event costs `rate`% of its billable value plus `fixedAmount`, clamped to
///   [`minimumPerTransaction`, `maximumPerTransaction`] when those are set.
/// - Negative values are priced as zero: a refund is a credit note, not a negative fee.
public struct PercentageTerms: Sendable, Equatable {
    /// Percent of each event's value ("1.3" is 1.3 %).
    public var rate: ExactDecimal
    public var fixedAmount: ExactDecimal
    public var freeEvents: Int?
    public var freeTotal: ExactDecimal?
    public var minimumPerTransaction: ExactDecimal?
    public var maximumPerTransaction: ExactDecimal?

    public init(rate: ExactDecimal, fixedAmount: ExactDecimal = .zero, freeEvents: Int? = nil, freeTotal: ExactDecimal? = nil,
                minimumPerTransaction: ExactDecimal? = nil, maximumPerTransaction: ExactDecimal? = nil) {
        self.rate = rate
        self.fixedAmount = fixedAmount
        self.freeEvents = freeEvents
        self.freeTotal = freeTotal
        self.minimumPerTransaction = minimumPerTransaction
        self.maximumPerTransaction = maximumPerTransaction
    }

    /// Whether each event must be seen: only a pure percentage, with or without free value,
    /// can be computed from the total.
    public var needsEvents: Bool {
        !fixedAmount.isZero || freeEvents != nil || minimumPerTransaction != nil || maximumPerTransaction != nil
    }

    /// `rate` as a fraction (1.3 → 0.013), exact.
    var fraction: ExactDecimal {
        get throws(DecimalError) { try rate.percentAsFraction() }
    }

    /// Rates the events in order. The steps are totals over all events (free, percentage,
    /// fixed, raised to the minimum, capped at the maximum), so a month of events explains
    /// itself in at most five lines; they sum exactly to the charge.
    func rate(events: [ExactDecimal]) throws(DecimalError) -> RatedCharge {
        let fraction = try fraction
        let hasFreePart = freeEvents != nil || freeTotal != nil
        var freeEnded = !hasFreePart || freeEvents == 0 || freeTotal?.isZero == true
        var count = 0
        var runningTotal = ExactDecimal.zero
        var freeValue = ExactDecimal.zero, freeWholeEvents = 0
        var billableTotal = ExactDecimal.zero, payingEvents = 0
        var raised = 0, raisedAmount = ExactDecimal.zero
        var capped = 0, cappedAmount = ExactDecimal.zero
        for raw in events {
            let value = raw.isNegative ? ExactDecimal.zero : raw
            count += 1
            var billable = value
            if !freeEnded {
                let before = runningTotal
                runningTotal = try runningTotal.adding(value)
                if let freeTotal, runningTotal > freeTotal {
                    // Crosses the free value: the part above it pays, and the free part ends.
                    billable = try runningTotal.subtracting(freeTotal)
                    freeValue = try freeValue.adding(freeTotal.subtracting(before))
                    freeEnded = true
                } else {
                    freeValue = try freeValue.adding(value)
                    freeWholeEvents += 1
                    if let freeEvents, count >= freeEvents { freeEnded = true }
                    if let freeTotal, runningTotal == freeTotal { freeEnded = true }
                    continue
                }
            }
            payingEvents += 1
            billableTotal = try billableTotal.adding(billable)
            let charge = try billable.multiplied(by: fraction).adding(fixedAmount)
            if let minimum = minimumPerTransaction, charge < minimum {
                raised += 1
                raisedAmount = try raisedAmount.adding(minimum.subtracting(charge))
            } else if let maximum = maximumPerTransaction, charge > maximum {
                capped += 1
                cappedAmount = try cappedAmount.adding(maximum.subtracting(charge))
            }
        }
        var steps: [DecompositionStep] = []
        steps.reserveCapacity(6)
        if hasFreePart {
            steps.append(DecompositionStep(kind: "free", detail: .percentageFree(freeEvents: freeEvents, freeTotal: freeTotal, wholeEvents: freeWholeEvents),
                                           quantity: freeValue, rate: .zero, amount: .zero))
        }
        steps.append(try .priced(kind: "percentage", detail: .percentageRate(percent: rate, events: payingEvents),
                                 quantity: billableTotal, rate: fraction))
        if !fixedAmount.isZero {
            steps.append(try .priced(kind: "fixed", detail: .perEvent, quantity: ExactDecimal(payingEvents), rate: fixedAmount))
        }
        if let minimum = minimumPerTransaction, raised > 0 {
            steps.append(DecompositionStep(kind: "minimum", description: "\(raised) events raised to the per-transaction minimum of \(minimum)",
                                           quantity: ExactDecimal(raised), rate: minimum, amount: raisedAmount))
        }
        if let maximum = maximumPerTransaction, capped > 0 {
            steps.append(DecompositionStep(kind: "maximum", description: "\(capped) events capped at the per-transaction maximum of \(maximum)",
                                           quantity: ExactDecimal(capped), rate: maximum, amount: cappedAmount))
        }
        return try RatedCharge(steps: steps)
    }
}
