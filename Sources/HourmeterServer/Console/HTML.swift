import Foundation
import HTTPTypes
import Hummingbird

/// Server-rendered HTML: escaping and the page frame. Pages work without JavaScript and load
/// nothing from elsewhere (styles are inline), so a page is one request.
enum HTML {
    /// The five characters that end text or an attribute value in HTML and XML; `&#39;` rather
    /// than `&apos;`, which HTML 4 lacks.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    static let style = """
        body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC",sans-serif;margin:0;color:#1d2733;background:#f5f7fa}
        header{background:#1d3557;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;align-items:center;flex-wrap:wrap}
        header a{color:#fff;text-decoration:none}header a.current{font-weight:700;text-decoration:underline}
        header .brand{font-weight:700;margin-right:1rem}header form{margin:0}header .spacer{flex:1}
        header button{background:none;border:1px solid #fff;color:#fff;padding:.2rem .6rem;border-radius:4px;cursor:pointer}
        main{padding:1.2rem;max-width:1100px;margin:auto}
        h1{font-size:1.5rem;margin:.2rem 0 1rem}h2{font-size:1.15rem;margin:1.4rem 0 .6rem}
        table{border-collapse:collapse;width:100%;background:#fff}th,td{padding:.4rem .6rem;border-bottom:1px solid #e3e8ef;text-align:left}
        td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
        .cards{display:flex;gap:1rem;flex-wrap:wrap}.card{background:#fff;border-radius:8px;padding:.8rem 1rem;min-width:12rem;box-shadow:0 1px 2px #0001}
        .card .value{font-size:1.5rem;font-weight:700}
        .zone{display:inline-block;min-width:1.6rem;text-align:center;border-radius:4px;color:#fff;font-weight:700;padding:0 .3rem}
        .zone-A{background:#2a9d8f}.zone-B{background:#8ab17d}.zone-C{background:#e9a23b}.zone-D{background:#d62828}.zone-none{background:#9aa5b1}
        .chart{background:#fff;border-radius:8px;padding:.6rem;margin:.4rem 0}
        details{margin:.3rem 0 1rem}summary{cursor:pointer;color:#44546a}
        .error{background:#fde2e1;border:1px solid #d62828;padding:.6rem 1rem;border-radius:6px}
        .muted{color:#5c6b7a}form.signin{background:#fff;padding:1.2rem;border-radius:8px;max-width:34rem}
        input[type=password]{width:100%;padding:.5rem;font-family:monospace;margin:.4rem 0 1rem;box-sizing:border-box}
        button.primary{background:#1d3557;color:#fff;border:0;padding:.5rem 1.2rem;border-radius:6px;cursor:pointer}
        """

    /// A whole page. `navigation` is empty on the sign-in page; `signOut` carries the session's
    /// CSRF token when signed in.
    static func page(title: String, language: ConsoleLanguage, path: String, back: String? = nil, navigation: [(href: String, label: String)],
                     signOutToken: String?, body: String) -> String {
        var nav = "<a class=\"brand\" href=\"/console\">\(escape(language.text(.product)))</a>"
        for item in navigation {
            let current = path == item.href || path.hasPrefix(item.href + "/")
            nav += "<a href=\"\(escape(item.href))\"\(current ? " class=\"current\" aria-current=\"page\"" : "")>\(escape(item.label))</a>"
        }
        nav += "<span class=\"spacer\"></span>"
        let back = back ?? (path.isEmpty ? "/console" : path)
        nav += "<a href=\"/console/language/\(language.other.rawValue)?back=\(escape(back.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? "/console"))\" lang=\"\(language.other.htmlTag)\" hreflang=\"\(language.other.htmlTag)\">\(escape(language.other.name))</a>"
        if let signOutToken {
            nav += "<form method=\"post\" action=\"/console/sign-out\"><input type=\"hidden\" name=\"csrf\" value=\"\(escape(signOutToken))\"><button type=\"submit\">\(escape(language.text(.signOut)))</button></form>"
        }
        return """
            <!DOCTYPE html>
            <html lang="\(language.htmlTag)"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
            <title>\(escape(title)) · Hourmeter</title><link rel="icon" href="data:,"><style>\(style)</style></head>
            <body><header><nav style="display:contents">\(nav)</nav></header><main><h1>\(escape(title))</h1>
            \(body)
            </main></body></html>
            """
    }

    static func response(_ html: String, status: HTTPResponse.Status = .ok, headers extra: [(HTTPField.Name, String)] = []) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        // No scripts at all, nothing from elsewhere, no framing.
        headers[HTTPField.Name("Content-Security-Policy")!] = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        for (name, value) in extra { headers.append(HTTPField(name: name, value: value)) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func redirect(_ location: String, headers extra: [(HTTPField.Name, String)] = []) -> Response {
        var headers = HTTPFields()
        headers[.location] = location
        headers[.cacheControl] = "no-store"
        for (name, value) in extra { headers.append(HTTPField(name: name, value: value)) }
        return Response(status: .seeOther, headers: headers)
    }

    /// A table; cells are already HTML. `numeric` marks right-aligned columns.
    static func table(headers: [String], rows: [[String]], numeric: Set<Int> = [], caption: String? = nil) -> String {
        var out = "<table>"
        if let caption { out += "<caption class=\"muted\" style=\"text-align:left\">\(escape(caption))</caption>" }
        out += "<thead><tr>" + headers.enumerated().map { "<th scope=\"col\"\(numeric.contains($0.offset) ? " class=\"num\"" : "")>\(escape($0.element))</th>" }.joined() + "</tr></thead><tbody>"
        for row in rows {
            out += "<tr>" + row.enumerated().map { "<td\(numeric.contains($0.offset) ? " class=\"num\"" : "")>\($0.element)</td>" }.joined() + "</tr>"
        }
        return out + "</tbody></table>"
    }

    static func zoneBadge(_ zone: String?, _ language: ConsoleLanguage) -> String {
        guard let zone, ["A", "B", "C", "D"].contains(zone) else {
            return "<span class=\"zone zone-none\">\(escape(language.text(.unknownZone)))</span>"
        }
        return "<span class=\"zone zone-\(zone)\" title=\"ISO 10816 zone \(zone)\">\(zone)</span>"
    }
}
