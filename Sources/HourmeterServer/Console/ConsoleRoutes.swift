import Foundation
import HTTPTypes
import HourmeterCore
import HourmeterStore
import Hummingbird
import Logging

/// The console under `/console`: server-rendered pages for makers and customers.
///
/// Sign-in exchanges an API key for a session (a random id kept only as its hash, 12 hours):
/// cookie `hm_session`, HttpOnly, SameSite=Strict, Secure when the request came over TLS. Every
/// form carries the session's CSRF token (the sign-in form a pre-session token, doubled in a
/// cookie); a form without it gets a clear page and changes nothing. A customer key bound to a
/// customer sees that customer's devices and invoices only; anything else is "not found",
/// exactly like another tenant's records.
struct ConsoleRoutes {
    let store: Store
    let configuration: ServerConfiguration
    let logger = Logger(label: "hourmeter.console")

    static let sessionCookie = "hm_session"
    static let signInCookie = "hm_signin"
    static let languageCookie = "hm_lang"
    static let sessionSeconds: Int64 = 12 * 3600

    /// Who is signed in, in which language, on which page.
    struct Visit {
        var caller: Caller
        var language: ConsoleLanguage
        var csrf: String
        /// The section, for the navigation ("/console/invoices" on an invoice's page).
        var path: String
        /// This page's own path, where the language switch comes back to.
        var url: String = "/console"
        var isCustomer: Bool { caller.role == .customer }
    }

    enum ConsoleError: Error {
        case signInRequired
        case notFound
        case csrf
    }

    func register(on router: Router<AppRequestContext>) {
        router.get("console") { request, _ -> Response in
            guard let visit = try await visit(request, path: "/console") else { return HTML.redirect("/console/sign-in") }
            return HTML.redirect(visit.isCustomer ? "/console/home" : "/console/overview")
        }
        router.get("console/sign-in") { request, _ -> Response in
            signInPage(language: language(request), error: nil, secure: isSecure(request))
        }
        router.post("console/sign-in") { request, _ -> Response in
            do { return try await signIn(request) } catch {
                let language = language(request)
                return HTML.response(HTML.page(title: language.text(.failed), language: language, path: "/console/sign-in", navigation: [], signOutToken: nil,
                                               body: "<p class=\"error\">\(HTML.escape(language.text(.failedHelp)))</p><p><a href=\"/console/sign-in\">\(HTML.escape(language.text(.signIn)))</a></p>"),
                                     status: .badRequest)
            }
        }
        router.post("console/sign-out") { request, _ -> Response in
            try await page(request, path: "/console/sign-out") { visit in
                let form = try await Self.form(request)
                guard let token = form["csrf"], Self.same(token, visit.csrf) else { throw ConsoleError.csrf }
                if let id = request.cookies[Self.sessionCookie]?.value { try await store.tenants.deleteSession(idHash: Self.hash(id)) }
                return HTML.redirect("/console/sign-in", headers: [(.setCookie, cookie(Self.sessionCookie, "", maxAge: 0, request: request))])
            }
        }
        router.get("console/language/{code}") { request, context -> Response in
            // A display preference, not data: a link, so it works without forms on every page.
            let language = ConsoleLanguage(rawValue: context.parameters.get("code") ?? "") ?? .en
            var back = request.uri.queryParameters.get("back") ?? "/console"
            if !back.hasPrefix("/console") || back.hasPrefix("//") || back.contains("\\") { back = "/console" }
            return HTML.redirect(back, headers: [(.setCookie, cookie(Self.languageCookie, language.rawValue, maxAge: 365 * 86_400, request: request))])
        }
        router.get("console/overview") { request, _ in try await page(request, path: "/console/overview", maker: true, overview) }
        router.get("console/fleet") { request, _ in try await page(request, path: "/console/fleet", maker: true, fleet) }
        router.get("console/customers") { request, _ in try await page(request, path: "/console/customers", maker: true, customers) }
        router.get("console/plans") { request, _ in try await page(request, path: "/console/plans", maker: true, plans) }
        router.get("console/home") { request, _ in try await page(request, path: "/console/home", home) }
        router.get("console/invoices") { request, _ in try await page(request, path: "/console/invoices", invoices) }
        router.get("console/invoices/{id}") { request, context in
            let id = context.parameters.get("id") ?? ""
            return try await page(request, path: "/console/invoices") { try await invoice($0, id: id) }
        }
        router.get("console/devices/{serial}") { request, context in
            // Serials are free text: links percent-encode them, and the router does not decode.
            let raw = context.parameters.get("serial") ?? ""
            let serial = raw.removingPercentEncoding ?? raw
            return try await page(request, path: "/console/devices") { try await device($0, serial: serial) }
        }
    }

    // MARK: Sessions

    func language(_ request: Request) -> ConsoleLanguage {
        ConsoleLanguage.choose(cookie: request.cookies[Self.languageCookie]?.value, acceptLanguage: request.headers[.acceptLanguage])
    }

    /// Over TLS (directly, or as a proxy in front says), cookies are marked Secure.
    func isSecure(_ request: Request) -> Bool {
        request.uri.scheme?.rawValue == "https" || request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased() == "https"
    }

    func cookie(_ name: String, _ value: String, maxAge: Int, request: Request) -> String {
        "\(name)=\(value); Path=/console; Max-Age=\(maxAge); HttpOnly; SameSite=Strict\(isSecure(request) ? "; Secure" : "")"
    }

    /// Session ids are kept as their hash, like API keys.
    static func hash(_ text: String) -> String { APIKeyMaterial.hash(of: text) }

    /// 256 random bits.
    static func randomToken() -> String { APIKeyMaterial.randomHex(words: 4) }

    static func same(_ a: String, _ b: String) -> Bool { APIKeyMaterial.constantTimeEquals(a, b) }

    func visit(_ request: Request, path: String) async throws -> Visit? {
        guard let id = request.cookies[Self.sessionCookie]?.value, !id.isEmpty, id.utf8.count <= 128,
              let (key, csrf) = try await store.tenants.session(idHash: Self.hash(id), nowMicros: configuration.nowMicros()) else { return nil }
        return Visit(caller: Caller(keyID: key.id, tenantID: key.tenantID, role: key.role, customerID: key.customerID),
                     language: language(request), csrf: csrf, path: path, url: request.uri.path)
    }

    /// Runs a page for a signed-in visitor; errors become pages, never problem+json.
    func page(_ request: Request, path: String, maker: Bool = false, _ body: (Visit) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        var response = try await renderPage(request, path: path, maker: maker, body)
        // How long the server took, for the browser test's 1 s budget and for anyone looking.
        let elapsed = ContinuousClock.now - started
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        response.headers[HTTPField.Name("Server-Timing")!] = String(format: "render;dur=%.1f", milliseconds)
        return response
    }

    func renderPage(_ request: Request, path: String, maker: Bool, _ body: (Visit) async throws -> Response) async throws -> Response {
        let language = language(request)
        do {
            guard let visit = try await visit(request, path: path) else { throw ConsoleError.signInRequired }
            if maker && visit.isCustomer { throw ConsoleError.notFound }
            if visit.caller.role == .partner { return render(visit, title: language.text(.overview), body: "<p>\(HTML.escape(language.text(.partnerNoPages)))</p>") }
            return try await body(visit)
        } catch ConsoleError.signInRequired {
            return HTML.redirect("/console/sign-in")
        } catch ConsoleError.notFound {
            return HTML.response(HTML.page(title: language.text(.notFound), language: language, path: path, navigation: [], signOutToken: nil,
                                           body: "<p class=\"error\">\(HTML.escape(language.text(.notFoundHelp)))</p><p><a href=\"/console\">\(HTML.escape(language.text(.back)))</a></p>"),
                                 status: .notFound)
        } catch ConsoleError.csrf {
            return HTML.response(HTML.page(title: language.text(.forbidden), language: language, path: path, navigation: [], signOutToken: nil,
                                           body: "<p class=\"error\">\(HTML.escape(language.text(.csrfFailed)))</p><p><a href=\"/console\">\(HTML.escape(language.text(.back)))</a></p>"),
                                 status: .forbidden)
        } catch {
            // Anything else (a form too large, the database away): a page, not problem+json.
            logger.error("console page failed", metadata: ["path": "\(path)", "error": "\(String(reflecting: error))"])
            return HTML.response(HTML.page(title: language.text(.failed), language: language, path: path, navigation: [], signOutToken: nil,
                                           body: "<p class=\"error\">\(HTML.escape(language.text(.failedHelp)))</p><p><a href=\"/console\">\(HTML.escape(language.text(.back)))</a></p>"),
                                 status: .internalServerError)
        }
    }

    func navigation(_ visit: Visit) -> [(href: String, label: String)] {
        let t = visit.language.text
        if visit.isCustomer { return [("/console/home", t(.home)), ("/console/invoices", t(.invoices))] }
        return [("/console/overview", t(.overview)), ("/console/fleet", t(.fleet)), ("/console/customers", t(.customers)),
                ("/console/plans", t(.plans)), ("/console/invoices", t(.invoices))]
    }

    func render(_ visit: Visit, title: String, body: String) -> Response {
        HTML.response(HTML.page(title: title, language: visit.language, path: visit.path, back: visit.url, navigation: navigation(visit),
                                signOutToken: visit.csrf, body: body))
    }

    func signInPage(language: ConsoleLanguage, error: String?, secure: Bool, status: HTTPResponse.Status = .ok) -> Response {
        let token = Self.randomToken()
        let body = (error.map { "<p class=\"error\" role=\"alert\">\(HTML.escape($0))</p>" } ?? "") + """
            <form class="signin" method="post" action="/console/sign-in">
            <p class="muted">\(HTML.escape(language.text(.signInHelp)))</p>
            <label for="key">\(HTML.escape(language.text(.apiKey)))</label>
            <input id="key" name="key" type="password" autocomplete="off" required>
            <input type="hidden" name="csrf" value="\(token)">
            <button class="primary" type="submit">\(HTML.escape(language.text(.signIn)))</button>
            </form>
            """
        let cookie = "\(Self.signInCookie)=\(token); Path=/console; Max-Age=3600; HttpOnly; SameSite=Strict\(secure ? "; Secure" : "")"
        return HTML.response(HTML.page(title: language.text(.signInTitle), language: language, path: "/console/sign-in", navigation: [],
                                       signOutToken: nil, body: body), status: status, headers: [(.setCookie, cookie)])
    }

    func signIn(_ request: Request) async throws -> Response {
        let language = language(request)
        let form = try await Self.form(request)
        // The form's token must match the one its page set in a cookie: a form posted from
        // elsewhere cannot sign the browser in to someone else's account.
        guard let token = form["csrf"], let expected = request.cookies[Self.signInCookie]?.value, Self.same(token, expected) else {
            return HTML.response(HTML.page(title: language.text(.forbidden), language: language, path: "/console/sign-in", navigation: [], signOutToken: nil,
                                           body: "<p class=\"error\">\(HTML.escape(language.text(.csrfFailed)))</p><p><a href=\"/console/sign-in\">\(HTML.escape(language.text(.signIn)))</a></p>"),
                                 status: .forbidden)
        }
        let secret = (form["key"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard secret.hasPrefix(APIKeyMaterial.prefix), secret.utf8.count <= 128,
              let record = try await store.tenants.apiKey(hash: APIKeyMaterial.hash(of: secret)) else {
            return signInPage(language: language, error: language.text(.wrongKey), secure: isSecure(request), status: .unauthorized)
        }
        // A new session each time; the one this browser had (if any) ends here.
        if let previous = request.cookies[Self.sessionCookie]?.value, !previous.isEmpty {
            try await store.tenants.deleteSession(idHash: Self.hash(previous))
        }
        let id = Self.randomToken(), now = configuration.nowMicros()
        try await store.tenants.createSession(idHash: Self.hash(id), keyID: record.id, csrf: Self.randomToken(), nowMicros: now,
                                              expiresMicros: now + Self.sessionSeconds * 1_000_000)
        return HTML.redirect("/console", headers: [
            (.setCookie, cookie(Self.sessionCookie, id, maxAge: Int(Self.sessionSeconds), request: request)),
            (.setCookie, cookie(Self.signInCookie, "", maxAge: 0, request: request)),
        ])
    }

    /// An `application/x-www-form-urlencoded` body (at most 16 KiB).
    static func form(_ request: Request) async throws -> [String: String] {
        let buffer = try await request.body.collect(upTo: 16 * 1024)
        var fields: [String: String] = [:]
        for pair in String(buffer: buffer).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String { text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            guard let name = parts.first else { continue }
            fields[decode(name)] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }
}
