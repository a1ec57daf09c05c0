import HourmeterCore
import NIOCore

/// The `minutes` column of a rollup row: the hour's non-empty minutes, compactly.
///
/// Layout, version 1: `u8 version, u8 count`, then per minute `u8 offset, u8 flags (1 sum,
/// 2 min, 4 max, 8 latest), varint count, [sum], [min], [max], [i64 latest time, latest]`,
/// each decimal as `u8 scale` + zig-zag varint significand. A SUM meter's minute is 4–6 bytes.
enum MinuteSlotCodec {
    static let version: UInt8 = 1

    struct CorruptSlots: Error {}

    static func encode(_ minutes: [UInt8: AggregateState]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 2 + minutes.count * 8)
        buffer.writeInteger(version)
        buffer.writeInteger(UInt8(minutes.count))
        for offset in minutes.keys.sorted() {
            let state = minutes[offset]!
            var flags: UInt8 = 0
            if !state.sum.isZero { flags |= 1 }
            if state.min != nil { flags |= 2 }
            if state.max != nil { flags |= 4 }
            if state.latest != nil, state.latestTime != nil { flags |= 8 }
            buffer.writeInteger(offset)
            buffer.writeInteger(flags)
            writeVarint(UInt128(UInt64(bitPattern: state.count)), to: &buffer)
            if flags & 1 != 0 { writeDecimal(state.sum, to: &buffer) }
            if let min = state.min { writeDecimal(min, to: &buffer) }
            if let max = state.max { writeDecimal(max, to: &buffer) }
            if flags & 8 != 0 {
                buffer.writeInteger(state.latestTime!)
                writeDecimal(state.latest!, to: &buffer)
            }
        }
        return buffer
    }

    static func decode(_ body: ByteBuffer) throws -> [UInt8: AggregateState] {
        var buffer = body
        guard buffer.readableBytes > 0 else { return [:] }
        guard buffer.readInteger(as: UInt8.self) == version, let count = buffer.readInteger(as: UInt8.self) else { throw CorruptSlots() }
        var minutes: [UInt8: AggregateState] = [:]
        minutes.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let offset = buffer.readInteger(as: UInt8.self), let flags = buffer.readInteger(as: UInt8.self),
                  let events = readVarint(&buffer) else { throw CorruptSlots() }
            var state = AggregateState()
            state.count = Int64(bitPattern: UInt64(truncatingIfNeeded: events))
            if flags & 1 != 0 { state.sum = try readDecimal(&buffer) }
            if flags & 2 != 0 { state.min = try readDecimal(&buffer) }
            if flags & 4 != 0 { state.max = try readDecimal(&buffer) }
            if flags & 8 != 0 {
                guard let time = buffer.readInteger(as: Int64.self) else { throw CorruptSlots() }
                state.latestTime = time
                state.latest = try readDecimal(&buffer)
            }
            minutes[offset] = state
        }
        return minutes
    }

    private static func writeDecimal(_ value: ExactDecimal, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(value.scale))
        let significand = value.significand
        let zigzag = UInt128(bitPattern: (significand << 1) ^ (significand >> 127))
        writeVarint(zigzag, to: &buffer)
    }

    private static func readDecimal(_ buffer: inout ByteBuffer) throws -> ExactDecimal {
        guard let scale = buffer.readInteger(as: UInt8.self), let zigzag = readVarint(&buffer) else { throw CorruptSlots() }
        let significand = Int128(bitPattern: zigzag >> 1) ^ -Int128(bitPattern: zigzag & 1)
        guard let value = try? ExactDecimal(significand: significand, scale: Int(scale)) else { throw CorruptSlots() }
        return value
    }

    private static func writeVarint(_ value: UInt128, to buffer: inout ByteBuffer) {
        var rest = value
        while rest >= 0x80 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        buffer.writeInteger(UInt8(rest))
    }

    private static func readVarint(_ buffer: inout ByteBuffer) -> UInt128? {
        var value: UInt128 = 0
        var shift: UInt128 = 0
        while let byte = buffer.readInteger(as: UInt8.self) {
            value |= UInt128(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
            if shift > 126 { return nil }
        }
        return nil
    }
}
