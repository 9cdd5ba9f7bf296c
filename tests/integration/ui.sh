#!/usr/bin/env bash
# The status page (GET /ui/, docs/metrics.md): its files, types and security headers with curl;
# then headless Chromium loads it with an officer's client certificate and the page shows live
# figures: keyholder up, the signature count as /metrics has it, charts with a legend per key;
# after more signatures a second load shows the larger count. No script errors and no CSP
# violations in the browser's console.
#
# Chromium and client certificates: the certificate is imported into an NSS database in a
# temporary HOME ($HOME/.pki/nssdb, certutil/pk12util from libnss3-tools) together with the
# appliance's root (so the server certificate verifies without --ignore-certificate-errors);
# headless Chromium has no certificate chooser, so the test writes a managed policy
# AutoSelectCertificateForUrls for this appliance's origin to /etc/chromium/policies/managed/
# (needs root; removed on exit). Without that policy the headless page waits forever. Without root, chromium or certutil the browser part is skipped.
. "$(dirname "$0")/lib.sh"
# one file with the same content for every run (the pattern takes any port of localhost), so
# that runs side by side do not disagree; two files naming the same policy would conflict
POLICY=/etc/chromium/policies/managed/portseal-tests.json
trap 'rm -f "$POLICY"; cleanup' EXIT

start_instance "$TMP/cn" --name cn
as_cert "$OFFICER_CERT" "$OFFICER_KEY"

# --- the files and their headers --------------------------------------------------------------
api GET /ui/
expect_status "GET /ui/ as an officer" 200
hdr() { grep -i "^$1: " "$TMP/headers" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
check "the page is text/html; charset=utf-8" test "$(hdr content-type)" = "text/html; charset=utf-8"
check "Content-Security-Policy: default-src 'self', frame-ancestors 'none'" \
    test "$(hdr content-security-policy)" = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
check "X-Content-Type-Options: nosniff" test "$(hdr x-content-type-options)" = nosniff
check "X-Frame-Options: DENY" test "$(hdr x-frame-options)" = DENY
check "Referrer-Policy: no-referrer" test "$(hdr referrer-policy)" = no-referrer
check "Cache-Control: no-cache" test "$(hdr cache-control)" = no-cache
check "the page is the one in appliance/ui/" cmp -s "$TMP/body" "$REPO/appliance/ui/index.html"
check "it loads nothing from elsewhere and has no inline script or style" python3 - "$TMP/body" <<'PY'
import re, sys
html = open(sys.argv[1]).read()
refs = re.findall(r'(?:src|href)="([^"]*)"', html)
sys.exit(not (refs and all(not re.match(r"[a-z]+:|//", r) for r in refs)
              and "<style" not in html and " style=" not in html
              and not re.search(r"<script(?![^>]*\ssrc=)", html)))
PY
api GET /ui/app.js
expect_status "GET /ui/app.js" 200
check "app.js is text/javascript with the same headers" sh -c "
    grep -qi '^content-type: text/javascript; charset=utf-8' '$TMP/headers' &&
    grep -qi '^x-content-type-options: nosniff' '$TMP/headers' &&
    grep -qi \"^content-security-policy: default-src 'self'\" '$TMP/headers'"
check "app.js is the one in appliance/ui/" cmp -s "$TMP/body" "$REPO/appliance/ui/app.js"
api GET /ui/style.css
expect_status "GET /ui/style.css" 200
check "style.css is text/css" sh -c "grep -qi '^content-type: text/css; charset=utf-8' '$TMP/headers'"
api GET /ui/index.html
expect_status "GET /ui/index.html is the page too" 200
api GET /ui/nope.js
expect_error "an unknown file is 404" 404 not_found
check "the 404 carries the page's headers too" sh -c "grep -qi '^x-content-type-options: nosniff' '$TMP/headers'"
check "HEAD /ui/ answers 200 with the headers only" sh -c "
    curl -sS --http2 -I --cacert '$CA_FILE' --cert '$OFFICER_CERT' --key '$OFFICER_KEY' '$URL/ui/' |
    grep -qi '^content-security-policy: '"
as_tenant1
api GET /ui/
expect_status "a tenant may load it (as /metrics)" 200
as_nobody
api GET /ui/
expect_error "without a client certificate: 401" 401 client_certificate_required

# --- headless Chromium ---------------------------------------------------------------------------
sign() { # N: N signing requests of one hash as tenant 1
    local i
    as_tenant1
    for ((i = 0; i < $1; i++)); do
        post_json /v1/sign/hash '{"key":"t1-ec","alg":"ecdsa-sha256","hashes":["'"$(b64_sha256 "ui$i$RANDOM")"'"]}'
        [ "$STATUS" = 200 ] || return 1
    done
}
signatures() { # the count /metrics has now
    as_cert "$OFFICER_CERT" "$OFFICER_KEY"
    api GET /metrics >/dev/null && awk '/^portseal_signatures_total /{print $2}' "$TMP/body"
}
CHROMIUM=$(command -v chromium || command -v chromium-browser)
if [ "$(id -u)" != 0 ] || [ -z "$CHROMIUM" ] || ! command -v certutil >/dev/null ||
    ! command -v pk12util >/dev/null; then
    ok "# SKIP headless Chromium: needs root (for the certificate policy), chromium and libnss3-tools (make deps)"
    exit 0
fi
export HOME=$TMP/home
mkdir -p "$HOME/.pki/nssdb"
NSS=sql:$HOME/.pki/nssdb
openssl pkcs12 -export -in "$OFFICER_CERT" -inkey "$OFFICER_KEY" -name officer -passout pass: \
    -out "$TMP/officer.p12" 2>/dev/null
check "an NSS database with the officer's certificate and key and the appliance's root" sh -c "
    certutil -N -d '$NSS' --empty-password &&
    pk12util -i '$TMP/officer.p12' -d '$NSS' -W '' >/dev/null &&
    certutil -A -d '$NSS' -n portseal-root -t C,, -i '$CA_FILE'"
ORIGIN=${URL%/}
case $ORIGIN in https://localhost:*) ;; *) nok "the demo's URL $ORIGIN is not https://localhost:PORT" ;; esac
mkdir -p "$(dirname "$POLICY")"
echo '{"AutoSelectCertificateForUrls": ["{\"pattern\":\"https://localhost\",\"filter\":{}}"]}' >"$POLICY"
check "a managed policy selects it for https://localhost (any port)" python3 -c "import json; json.load(open('$POLICY'))"

# load: the page's DOM after 10 s of virtual time (several scrapes) into $TMP/dom.html, the
# browser's log into $TMP/chromium.log
load() {
    rm -rf "$TMP/profile"
    timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$TMP/profile" --enable-logging=stderr --v=0 --window-size=1280,1000 \
        --virtual-time-budget=10000 --dump-dom "$ORIGIN/ui/?interval=2" \
        >"$TMP/dom.html" 2>"$TMP/chromium.log"
}
# dom PYTHON-EXPR: evaluated with v(id) = the text of the element with that id, scrapes = the
# page's count of scrapes, legend(id) = the legend's entries
dom() {
    python3 - "$TMP/dom.html" "$1" <<'PY'
import html.parser, sys

class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.text, self.attrs, self.stack = {}, {}, []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.attrs["body"] = a
        self.stack.append(a.get("id"))
        if a.get("id"):
            self.text.setdefault(a["id"], "")
    def handle_endtag(self, tag):
        if self.stack:
            self.stack.pop()
    def handle_data(self, d):
        for i in self.stack:
            if i:
                self.text[i] = self.text.get(i, "") + d

p = P()
p.feed(open(sys.argv[1]).read())
v = lambda i: p.text.get(i, "").strip()
scrapes = int(p.attrs.get("body", {}).get("data-scrapes", "0"))
legend = lambda i: [x for x in v(i).split("\n") if x]
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
}

check "ten signatures as tenant 1" sign 10
N1=$(signatures)
check "Chromium loads /ui/ with the officer's certificate" load
check "the page read /metrics more than once (data-scrapes >= 2)" dom "scrapes >= 2"
check "the state says live" dom "v('state') == 'live'"
check "keyholder and HSM tiles say up" dom "v('v-keyholder') == 'up' and v('v-hsm') == 'up'"
check "the signature tile shows the count of /metrics ($N1)" dom "v('v-signatures').replace(',', '') == '$N1' and int('$N1') >= 10"
check "ledger leaves and the latest checkpoint are shown" dom "int(v('v-ledger').replace(',', '')) >= 10 and v('v-checkpoint').endswith('ago')"
check "open connections are shown" dom "int(v('v-connections')) >= 1"
check "the signatures chart has a legend entry for key t1-ec" dom "'t1-ec:' in v('l-sigs')"
check "the connections chart has its worker" dom "v('l-conn').startswith('worker ')"
check "no script errors in the console" not grep -q 'Uncaught' "$TMP/chromium.log"
check "no Content-Security-Policy violations" not grep -qi 'Refused to\|Content Security Policy' "$TMP/chromium.log"
check "five more signatures" sign 5
N2=$(signatures)
check "Chromium loads the page again" load
check "the signature tile now shows $N2 (> $N1)" dom "v('v-signatures').replace(',', '') == '$N2' and int('$N2') > int('$N1')"
