import Foundation
import HTTPTypes
import HourmeterCore
@testable import HourmeterServer
import HourmeterStore
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The console over a real server and database: sign-in, sessions and their cookies, CSRF,
/// what a customer key and another tenant may see, languages. (The pages in a real browser:
/// `ConsoleBrowserTests`.)
@Suite struct ConsoleTests {
    /// A browser of sorts: keeps the cookies the server sets.
    final class Browser: @unchecked Sendable {
        let fixture: LiveFixture
        var cookies: [String: String] = [:]
        var headers: [HTTPField.Name: String] = [:]
        init(_ fixture: LiveFixture) { self.fixture = fixture }

        @discardableResult
        func go(_ method: HTTPRequest.Method = .get, _ path: String, form: [String: String]? = nil) async throws -> TestResponse {
            var fields = HTTPFields()
            if !cookies.isEmpty { fields[.cookie] = cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
            for (name, value) in headers { fields[name] = value }
            var body: ByteBuffer?
            if let form {
                fields[.contentType] = "application/x-www-form-urlencoded"
                body = ByteBuffer(string: form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&"))
            }
            let response = try await fixture.client.execute(uri: path, method: method, headers: fields, body: body)
            for header in response.headers[values: .setCookie] {
                let pair = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let value = pair.count > 1 ? String(pair[1]) : ""
                if value.isEmpty || header.contains("Max-Age=0") { cookies[String(pair[0])] = nil } else { cookies[String(pair[0])] = value }
            }
            return response
        }

        func signIn(_ key: String) async throws -> TestResponse {
            let page = try await go(.get, "/console/sign-in")
            let token = try #require(page.text.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1)
            return try await go(.post, "/console/sign-in", form: ["key": key, "csrf": String(token)])
        }

        func csrf() async throws -> String {
            let page = try await go(.get, "/console/invoices")
            return String(try #require(page.text.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1))
        }
    }

    @Test(arguments: postgresConfigured ? [false, true] : [false])
    func signInSessionsAndCSRF(postgres: Bool) async throws {
        try await withLiveServer(postgres: postgres) { fixture in
            let (_, maker) = try await fixture.tenantWithKey("Console maker")
            let browser = Browser(fixture)
            // Not signed in: every page sends to the sign-in page.
            let anonymous = try await browser.go(.get, "/console/overview")
            #expect(anonymous.status == .seeOther && anonymous.headers[.location] == "/console/sign-in")

            // A wrong key: a clear page, 401, no session.
            let wrong = try await browser.signIn("hm_" + String(repeating: "0", count: 48))
            #expect(wrong.status == .unauthorized && wrong.text.contains("not valid or has been revoked") && browser.cookies["hm_session"] == nil)
            // A sign-in form posted without its token (from another site): refused, no session.
            let forged = try await Browser(fixture).go(.post, "/console/sign-in", form: ["key": maker])
            #expect(forged.status == .forbidden && forged.text.contains("security token") && forged.headers[values: .setCookie].allSatisfy { !$0.contains("hm_session") })

            // The right key: a session cookie that scripts cannot read and other sites do not send.
            let signedIn = try await browser.signIn(maker)
            #expect(signedIn.status == .seeOther)
            let cookie = try #require(signedIn.headers[values: .setCookie].first { $0.hasPrefix("hm_session=") })
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure") && !cookie.contains(maker))
            let overview = try await browser.go(.get, "/console/overview")
            #expect(overview.status == .ok && overview.text.contains("Revenue posted this month") && overview.headers[.contentType] == "text/html; charset=utf-8")
            #expect(overview.headers[HTTPField.Name("Content-Security-Policy")!]?.contains("default-src 'none'") == true)
            #expect(overview.headers[HTTPField.Name("Server-Timing")!]?.hasPrefix("render;dur=") == true)

            // Sign-out without the session's token: refused, still signed in.
            let forgedOut = try await browser.go(.post, "/console/sign-out", form: [:])
            #expect(forgedOut.status == .forbidden)
            #expect(try await browser.go(.get, "/console/fleet").status == .ok)
            let wrongToken = try await browser.go(.post, "/console/sign-out", form: ["csrf": String(repeating: "a", count: 64)])
            #expect(wrongToken.status == .forbidden)
            #expect(try await browser.go(.get, "/console/fleet").status == .ok)
            // With it: signed out, and the old session is gone on the server too.
            let session = try #require(browser.cookies["hm_session"])
            let out = try await browser.go(.post, "/console/sign-out", form: ["csrf": try await browser.csrf()])
            #expect(out.status == .seeOther && browser.cookies["hm_session"] == nil)
            browser.cookies["hm_session"] = session
            #expect(try await browser.go(.get, "/console/fleet").status == .seeOther)

            // Over TLS (a proxy in front says so) the cookie is Secure too.
            let secure = Browser(fixture)
            secure.headers[HTTPField.Name("X-Forwarded-Proto")!] = "https"
            let tls = try await secure.signIn(maker)
            #expect(tls.headers[values: .setCookie].first { $0.hasPrefix("hm_session=") }?.contains("; Secure") == true)
            // A revoked key's session ends with it.
            let keyID = try await fixture.store.tenants.apiKey(hash: APIKeyMaterial.hash(of: maker))!.id
            _ = try await fixture.store.tenants.revokeAPIKey(id: keyID, nowMicros: nowMicros())
            #expect(try await secure.go(.get, "/console/overview").status == .seeOther)
        }
    }

    @Test(arguments: postgresConfigured ? [false, true] : [false])
    func customersSeeTheirOwnAndTenantsSeeNothingOfEachOther(postgres: Bool) async throws {
        try await withLiveServer(postgres: postgres) { fixture in
            let (tenant, maker) = try await fixture.tenantWithKey("Scoped maker")
            let (_, otherMaker) = try await fixture.tenantWithKey("Other maker")
            func created(_ path: String, _ body: String, key: String = maker) async throws -> String {
                let answer = try await fixture.request(.post, path, key: key, json: body)
                #expect(answer.status == .created, "\(answer.text)")
                return try answer.json()["id"] as! String
            }
            let model = try await created("/api/v1/device-models", #"{"name":"EX","category":"excavator"}"#)
            let mine = try await created("/api/v1/customers", #"{"name":"Mine Co","currency":"CNY","time_zone":"Asia/Shanghai"}"#)
            let theirs = try await created("/api/v1/customers", #"{"name":"Theirs Co","currency":"CNY","time_zone":"Asia/Shanghai"}"#)
            _ = try await created("/api/v1/devices", #"{"serial":"MINE-1","model":"\#(model)","customer":"\#(mine)"}"#)
            let theirDevice = try await created("/api/v1/devices", #"{"serial":"THEIRS-1","model":"\#(model)","customer":"\#(theirs)"}"#)
            // A key is bound only to a customer of its own tenant, and only a customer key is.
            let bound = try await fixture.request(.post, "/api/v1/api-keys", key: maker, json: #"{"role":"customer","customer":"\#(mine)"}"#)
            let boundCustomer = try bound.json()["customer"] as? String
            #expect(bound.status == .created && boundCustomer == mine)
            let customerKey = try bound.json()["key"] as! String
            _ = try await fixture.request(.post, "/api/v1/api-keys", key: otherMaker, json: #"{"role":"customer","customer":"\#(mine)"}"#).problem(.badRequest, "validation")
            _ = try await fixture.request(.post, "/api/v1/api-keys", key: maker, json: #"{"role":"maker","customer":"\#(mine)"}"#).problem(.badRequest, "validation")
            #expect(try await fixture.store.tenants.apiKey(hash: APIKeyMaterial.hash(of: customerKey))?.tenantID == tenant)

            // Through the API too, a bound key reads its own customer's records only.
            let listed = try await fixture.request(.get, "/api/v1/customers", key: customerKey).jsonArray()
            #expect(listed.map { $0["id"] as? String } == [mine])
            _ = try await fixture.request(.get, "/api/v1/customers/\(theirs)", key: customerKey).problem(.notFound, "not-found")
            let devices = try await fixture.request(.get, "/api/v1/devices?customer=\(theirs)", key: customerKey).jsonArray()
            #expect(devices.map { $0["serial"] as? String } == ["MINE-1"])
            _ = try await fixture.request(.get, "/api/v1/devices/\(theirDevice)", key: customerKey).problem(.notFound, "not-found")
            #expect(try await fixture.request(.get, "/api/v1/devices/\(theirDevice)", key: maker).status == .ok)

            let customer = Browser(fixture)
            #expect(try await customer.signIn(customerKey).status == .seeOther)
            let home = try await customer.go(.get, "/console/home")
            #expect(home.status == .ok && home.text.contains("MINE-1") && !home.text.contains("THEIRS-1"))
            #expect(try await customer.go(.get, "/console/devices/MINE-1").status == .ok)
            let other = try await customer.go(.get, "/console/devices/THEIRS-1")
            #expect(other.status == .notFound && other.text.contains("nothing here"))
            #expect(try await customer.go(.get, "/console/fleet").status == .notFound)      // a maker page
            #expect(try await customer.go(.get, "/console/overview").status == .notFound)
            #expect(try await customer.go(.get, "/console").headers[.location] == "/console/home")

            // Another tenant's maker finds none of it.
            let stranger = Browser(fixture)
            #expect(try await stranger.signIn(otherMaker).status == .seeOther)
            #expect(try await stranger.go(.get, "/console/devices/MINE-1").status == .notFound)
            let fleet = try await stranger.go(.get, "/console/fleet")
            #expect(fleet.status == .ok && !fleet.text.contains("MINE-1"))
            let customers = try await stranger.go(.get, "/console/customers")
            #expect(!customers.text.contains("Mine Co"))
        }
    }

    @Test func pagesSpeakEnglishOrChinese() async throws {
        try await withLiveServer { fixture in
            let (_, maker) = try await fixture.tenantWithKey("Bilingual maker")
            let browser = Browser(fixture)
            browser.headers[.acceptLanguage] = "zh-CN,zh;q=0.9,en;q=0.8"
            let signIn = try await browser.go(.get, "/console/sign-in")
            #expect(signIn.text.contains("<html lang=\"zh-Hans\">") && signIn.text.contains("使用 API 密钥登录"))
            let wrong = try await browser.signIn("hm_nope")
            #expect(wrong.text.contains("该密钥无效"))
            _ = try await browser.signIn(maker)
            #expect(try await browser.go(.get, "/console/overview").text.contains("本月入账收入"))
            // The switch on every page: a cookie, then back where one was; never off the console.
            let switched = try await browser.go(.get, "/console/language/en?back=/console/fleet")
            #expect(switched.status == .seeOther && switched.headers[.location] == "/console/fleet" && browser.cookies["hm_lang"] == "en")
            #expect(try await browser.go(.get, "/console/overview").text.contains("Revenue posted this month"))
            #expect(try await browser.go(.get, "/console/language/zh?back=//evil.example/").headers[.location] == "/console")
            #expect(ConsoleLanguage.choose(cookie: nil, acceptLanguage: "fr-FR,en;q=0.5,zh;q=0.8") == .zh)
            #expect(ConsoleLanguage.choose(cookie: nil, acceptLanguage: "de") == .en)
            #expect(ConsoleLanguage.en.money(ExactDecimal("1234567.5")!, Currency(code: "CNY")!) == "CN¥1,234,567.50")
            #expect(ConsoleLanguage.zh.money(ExactDecimal("-12.3")!, Currency(code: "CNY")!) == "-¥12.30")
            #expect(ConsoleLanguage.en.money(ExactDecimal("1500")!, Currency(code: "JPY")!) == "¥1,500")
        }
    }

    /// Whatever a maker names things, pages show it as text: no markup gets through, and a
    /// serial with spaces, a slash or Chinese characters still has a working page.
    @Test func namesAreEscapedAndOddSerialsHavePages() async throws {
        try await withLiveServer { fixture in
            let (_, maker) = try await fixture.tenantWithKey("Escaping maker")
            func created(_ path: String, _ body: [String: Any]) async throws -> String {
                let answer = try await fixture.request(.post, path, key: maker, json: JSONText.serialize(body))
                #expect(answer.status == .created, "\(answer.text)")
                return try answer.json()["id"] as! String
            }
            let model = try await created("/api/v1/device-models", ["name": "M", "category": "c"])
            let customer = try await created("/api/v1/customers", ["name": "<script>alert(1)</script> & Co", "currency": "CNY", "time_zone": "UTC"])
            let serial = "挖掘机 A/7 <b>"
            _ = try await created("/api/v1/devices", ["serial": serial, "model": model, "customer": customer])
            let browser = Browser(fixture)
            _ = try await browser.signIn(maker)
            let customers = try await browser.go(.get, "/console/customers")
            #expect(customers.text.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co") && !customers.text.contains("<script>"))
            let fleet = try await browser.go(.get, "/console/fleet")
            #expect(fleet.text.contains("挖掘机 A/7 &lt;b&gt;") && !fleet.text.contains("<b>"))
            let link = try #require(fleet.text.firstMatch(of: /href="(\/console\/devices\/[^"]+)"/)?.1)
            #expect(!link.dropFirst("/console/devices/".count).contains("/"))
            let page = try await browser.go(.get, String(link))
            #expect(page.status == .ok && page.text.contains("挖掘机 A/7 &lt;b&gt;"), "\(link)")
            // Signing in again ends the session this browser had.
            let old = try #require(browser.cookies["hm_session"])
            _ = try await browser.signIn(maker)
            #expect(browser.cookies["hm_session"] != old)
            browser.cookies["hm_session"] = old
            #expect(try await browser.go(.get, "/console/fleet").status == .seeOther)
        }
    }
}

