import Foundation

/// Charts drawn on the server as inline SVG: no script, no request. Each comes with a text
/// equivalent — `role="img"` and a label on the drawing, and the figures as a table in a
/// `<details>` beside it — so a screen reader (or a test) reads what the picture shows.
enum SVGChart {
    static let palette = ["#1d3557", "#e76f51", "#2a9d8f", "#e9c46a", "#8d99ae", "#6d597a", "#f4a261"]

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    /// A small line without axes, for a table cell.
    static func sparkline(_ values: [Double], label: String, width: Double = 120, height: Double = 28, maximum fixedMaximum: Double? = nil) -> String {
        guard values.count >= 2 else { return "<span class=\"muted\">–</span>" }
        let maximum = fixedMaximum ?? (values.max() ?? 1), minimum = fixedMaximum == nil ? (values.min() ?? 0) : 0
        let span = max(maximum - minimum, 1e-9)
        let points = values.enumerated().map { index, value in
            "\(format(Double(index) / Double(values.count - 1) * (width - 4) + 2)),\(format(height - 2 - (value - minimum) / span * (height - 4)))"
        }.joined(separator: " ")
        return """
            <svg width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" role="img" aria-label="\(HTML.escape(label))"><title>\(HTML.escape(label))</title><polyline fill="none" stroke="#1d3557" stroke-width="1.5" points="\(points)"/></svg>
            """
    }

    /// Lines over shared x labels, with y gridlines; optional horizontal reference lines
    /// (zone boundaries). Followed by its table.
    /// `cells`, when given, are the table's exact figures (rows by x label, columns by series):
    /// the drawing may round, the table does not.
    static func lines(title: String, xLabels: [String], series: [(name: String, values: [Double?])], references: [(label: String, value: Double)] = [],
                      cells: [[String]]? = nil, language: ConsoleLanguage, width: Double = 760, height: Double = 240) -> String {
        let left = 48.0, right = 12.0, top = 12.0, bottom = 28.0
        let all = series.flatMap { $0.values.compactMap { $0 } } + references.map(\.value)
        guard !all.isEmpty, xLabels.count >= 2 else { return "<p class=\"muted\">\(HTML.escape(language.text(.noData)))</p>" }
        let maximum = max(all.max()! * 1.05, 1e-9), minimum = min(0, all.min()!)
        func x(_ index: Int) -> Double { left + Double(index) / Double(xLabels.count - 1) * (width - left - right) }
        func y(_ value: Double) -> Double { top + (1 - (value - minimum) / (maximum - minimum)) * (height - top - bottom) }
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=\"img\" aria-label=\"\(HTML.escape(title))\"><title>\(HTML.escape(title))</title>"
        for step in 0...4 {
            let value = minimum + (maximum - minimum) * Double(step) / 4
            svg += "<line x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(format(y(value)))\" y2=\"\(format(y(value)))\" stroke=\"#e3e8ef\"/>"
            svg += "<text x=\"\(left - 4)\" y=\"\(format(y(value) + 4))\" font-size=\"10\" text-anchor=\"end\" fill=\"#5c6b7a\">\(format(value))</text>"
        }
        for reference in references {
            svg += "<line x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(format(y(reference.value)))\" y2=\"\(format(y(reference.value)))\" stroke=\"#d62828\" stroke-dasharray=\"4 3\"/>"
            svg += "<text x=\"\(width - right)\" y=\"\(format(y(reference.value) - 3))\" font-size=\"10\" text-anchor=\"end\" fill=\"#d62828\">\(HTML.escape(reference.label))</text>"
        }
        let labelEvery = max(1, xLabels.count / 6)
        for (index, label) in xLabels.enumerated() where index % labelEvery == 0 {
            svg += "<text x=\"\(format(x(index)))\" y=\"\(height - 8)\" font-size=\"10\" text-anchor=\"middle\" fill=\"#5c6b7a\">\(HTML.escape(label))</text>"
        }
        for (number, line) in series.enumerated() {
            var path = ""
            var pen = false
            for (index, value) in line.values.enumerated() {
                guard let value else { pen = false; continue }
                path += "\(pen ? "L" : "M")\(format(x(index))),\(format(y(value))) "
                pen = true
            }
            svg += "<path d=\"\(path)\" fill=\"none\" stroke=\"\(palette[number % palette.count])\" stroke-width=\"2\"/>"
        }
        svg += "</svg>"
        if series.count > 1 { svg += legend(series.map(\.name)) }
        let rows = xLabels.enumerated().map { index, label in
            [HTML.escape(label)] + (cells.map { $0[index].map(HTML.escape) } ?? series.map { line in line.values[index].map { format($0) } ?? "–" })
        }
        return "<div class=\"chart\">\(svg)</div>" + equivalent(HTML.table(headers: [""] + series.map(\.name), rows: rows, numeric: Set(1...series.count)), language)
    }

    /// Stacked vertical bars: one bar per label, one segment per series.
    /// Negative values are not drawn (a stack cannot show them) but are in the table; `cells`
    /// as for `lines`.
    static func stackedBars(title: String, labels: [String], series: [(name: String, values: [Double])], format valueText: (Double) -> String,
                            cells: [[String]]? = nil, language: ConsoleLanguage, width: Double = 760, height: Double = 240) -> String {
        let left = 96.0, top = 12.0, bottom = 28.0
        let totals = labels.indices.map { index in series.reduce(0) { $0 + max(0, $1.values[index]) } }
        guard let peak = totals.max(), peak > 0 else { return "<p class=\"muted\">\(HTML.escape(language.text(.noData)))</p>" }
        let slot = (width - left - 8) / Double(max(1, labels.count)), barWidth = slot * 0.6
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=\"img\" aria-label=\"\(HTML.escape(title))\"><title>\(HTML.escape(title))</title>"
        for step in 0...4 {
            let value = peak * Double(step) / 4, y = top + (1 - Double(step) / 4) * (height - top - bottom)
            svg += "<line x1=\"\(left)\" x2=\"\(width - 8)\" y1=\"\(format(y))\" y2=\"\(format(y))\" stroke=\"#e3e8ef\"/>"
            svg += "<text x=\"\(left - 4)\" y=\"\(format(y + 4))\" font-size=\"10\" text-anchor=\"end\" fill=\"#5c6b7a\">\(HTML.escape(valueText(value)))</text>"
        }
        for (index, label) in labels.enumerated() {
            var base = height - bottom
            let x = left + Double(index) * slot + (slot - barWidth) / 2
            for (number, line) in series.enumerated() where line.values[index] > 0 {
                let size = line.values[index] / peak * (height - top - bottom)
                base -= size
                svg += "<rect x=\"\(format(x))\" y=\"\(format(base))\" width=\"\(format(barWidth))\" height=\"\(format(size))\" fill=\"\(palette[number % palette.count])\"><title>\(HTML.escape(label)) · \(HTML.escape(line.name)): \(HTML.escape(valueText(line.values[index])))</title></rect>"
            }
            if index % max(1, labels.count / 12) == 0 {
                svg += "<text x=\"\(format(x + barWidth / 2))\" y=\"\(height - 8)\" font-size=\"10\" text-anchor=\"middle\" fill=\"#5c6b7a\">\(HTML.escape(label))</text>"
            }
        }
        svg += "</svg>" + legend(series.map(\.name))
        let rows = labels.enumerated().map { index, label in
            [HTML.escape(label)] + (cells.map { $0[index].map(HTML.escape) } ?? series.map { HTML.escape(valueText($0.values[index])) })
        }
        return "<div class=\"chart\">\(svg)</div>" + equivalent(HTML.table(headers: [""] + series.map(\.name), rows: rows, numeric: Set(1...max(1, series.count))), language)
    }

    /// Horizontal bars, one per item, with its value written at its end.
    static func horizontalBars(title: String, items: [(label: String, value: Double, text: String)], language: ConsoleLanguage, width: Double = 760) -> String {
        guard let peak = items.map({ abs($0.value) }).max(), peak > 0 else { return "<p class=\"muted\">\(HTML.escape(language.text(.noData)))</p>" }
        let row = 26.0, labelWidth = 260.0, height = row * Double(items.count) + 8
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=\"img\" aria-label=\"\(HTML.escape(title))\"><title>\(HTML.escape(title))</title>"
        for (index, item) in items.enumerated() {
            let y = 4 + Double(index) * row
            let size = abs(item.value) / peak * (width - labelWidth - 150)
            svg += "<text x=\"\(labelWidth - 6)\" y=\"\(format(y + 16))\" font-size=\"12\" text-anchor=\"end\" fill=\"#1d2733\">\(HTML.escape(String(item.label.prefix(44))))</text>"
            svg += "<rect x=\"\(labelWidth)\" y=\"\(format(y + 4))\" width=\"\(format(max(size, 1)))\" height=\"16\" fill=\"\(item.value < 0 ? "#e76f51" : palette[index % 3 == 0 ? 0 : index % 3 == 1 ? 2 : 4])\"/>"
            svg += "<text x=\"\(format(labelWidth + max(size, 1) + 6))\" y=\"\(format(y + 16))\" font-size=\"12\" fill=\"#1d2733\">\(HTML.escape(item.text))</text>"
        }
        svg += "</svg>"
        return "<div class=\"chart\">\(svg)</div>"
    }

    static func legend(_ names: [String]) -> String {
        "<p class=\"muted\" style=\"font-size:.85rem\">" + names.enumerated().map { index, name in
            "<span style=\"display:inline-block;width:.8rem;height:.8rem;background:\(palette[index % palette.count]);margin:0 .3rem 0 .8rem\"></span>\(HTML.escape(name))"
        }.joined() + "</p>"
    }

    static func equivalent(_ table: String, _ language: ConsoleLanguage) -> String {
        "<details><summary>\(HTML.escape(language.text(.tableEquivalent)))</summary>\(table)</details>"
    }
}
