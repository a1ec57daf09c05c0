import HourmeterCore
import NIOCore

/// The on-disk form of one acknowledged batch in `event_batches.body`.
///
/// A compact length-prefixed binary layout rather than JSON: writing it is a few copies per
/// event (the ingest path never re-encodes `data`), and reading it back for listings, backfill
/// or re-rating needs no JSON parser for the envelope. Layout, version 1:
/// `u8 version, u32 count`, then per event `i64 time µs, u8 flags (1 time given, 2 has data,
/// 4 has datacontenttype), u32-prefixed id, source, type, subject, [datacontenttype], [data]`.
enum EventLogCodec {
    static let version: UInt8 = 1

    struct CorruptBatch: Error {}

    static func encode(_ events: [UsageEvent]) -> ByteBuffer {
        var size = 5
        for event in events {
            size += 8 + 1 + 16 + event.id.utf8.count + event.source.utf8.count + event.type.utf8.count + event.subject.utf8.count
            size += (event.dataContentType?.utf8.count ?? 0) + 4 + (event.data?.count ?? 0) + 4
        }
        var buffer = ByteBufferAllocator().buffer(capacity: size)
        buffer.writeInteger(version)
        buffer.writeInteger(UInt32(events.count))
        for event in events {
            buffer.writeInteger(event.timeMicros)
            var flags: UInt8 = 0
            if event.timeGiven { flags |= 1 }
            if event.data != nil { flags |= 2 }
            if event.dataContentType != nil { flags |= 4 }
            buffer.writeInteger(flags)
            writeString(event.id, to: &buffer)
            writeString(event.source, to: &buffer)
            writeString(event.type, to: &buffer)
            writeString(event.subject, to: &buffer)
            if let contentType = event.dataContentType { writeString(contentType, to: &buffer) }
            if let data = event.data {
                buffer.writeInteger(UInt32(data.count))
                buffer.writeBytes(data)
            }
        }
        return buffer
    }

    static func decode(_ body: ByteBuffer) throws -> [UsageEvent] {
        var buffer = body
        guard buffer.readInteger(as: UInt8.self) == version, let count = buffer.readInteger(as: UInt32.self) else {
            throw CorruptBatch()
        }
        var events: [UsageEvent] = []
        events.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let time = buffer.readInteger(as: Int64.self), let flags = buffer.readInteger(as: UInt8.self),
                  let id = readString(&buffer), let source = readString(&buffer),
                  let type = readString(&buffer), let subject = readString(&buffer) else { throw CorruptBatch() }
            var contentType: String?
            if flags & 4 != 0 {
                guard let value = readString(&buffer) else { throw CorruptBatch() }
                contentType = value
            }
            var data: [UInt8]?
            if flags & 2 != 0 {
                guard let length = buffer.readInteger(as: UInt32.self), let bytes = buffer.readBytes(length: Int(length)) else {
                    throw CorruptBatch()
                }
                data = bytes
            }
            events.append(UsageEvent(id: id, source: source, type: type, subject: subject, timeMicros: time,
                                     timeGiven: flags & 1 != 0, dataContentType: contentType, data: data))
        }
        return events
    }

    static func encodeKeys(_ keys: [Int64]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: keys.count * 8)
        for key in keys { buffer.writeInteger(key) }
        return buffer
    }

    static func decodeKeys(_ body: ByteBuffer) -> [Int64] {
        var buffer = body
        var keys: [Int64] = []
        keys.reserveCapacity(buffer.readableBytes / 8)
        while let key = buffer.readInteger(as: Int64.self) { keys.append(key) }
        return keys
    }

    private static func writeString(_ text: String, to buffer: inout ByteBuffer) {
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        let written = buffer.writeString(text)
        buffer.setInteger(UInt32(written), at: lengthIndex)
    }

    private static func readString(_ buffer: inout ByteBuffer) -> String? {
        guard let length = buffer.readInteger(as: UInt32.self) else { return nil }
        return buffer.readString(length: Int(length))
    }
}
