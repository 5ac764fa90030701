#!/usr/bin/env python3
"""Signs in to the console as a deployment does, in a real headless Chromium, and prints, as
one JSON object, what it met. A check that fails exits 1 and says which.

Usage: console-sign-in-check.py SERVE_URL SCREENSHOTS
  SERVE_URL    a running `rulekit serve --dev-auth`, e.g. http://127.0.0.1:8080, whose tenant
               t1 has an automation named "Seeded"

No Cognito and no API Gateway here, so this stands in for both, on one loopback origin:
- the user pool's hosted sign-in: `/oauth2/authorize` (the operator is taken as signed in
  already, and sent back with a code), `/oauth2/token` (the code traded for an ID token only
  with the verifier whose SHA-256 is the challenge, the same client and return address, once)
  and `/logout`;
- API Gateway's JWT authorizer: a `/v1` call passes only with the ID token this stand-in
  issued as its bearer, and reaches the real router (the server) with the token's tenant and
  role, as the authorizer's verified claims would;
- everything else under `/console/` is the server's own files and headers, except
  `config.json`, which names this origin's sign-in as a deployment's names the pool's.

The flow: the console offers the hosted sign-in; it goes there with a PKCE challenge (S256)
and a state, comes back, trades the code with the verifier, and calls the API with the ID
token; the tenant and role it shows are the token's; the code leaves the address; the token is
kept for this tab only (sessionStorage), nothing in localStorage. A return with a state this
tab did not make is refused and trades nothing. Sign out ends the hosted session and comes
back to the sign-in page with nothing kept.
"""
import base64
import hashlib
import http.server
import json
import pathlib
import secrets
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request

import headless_chromium
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

CLIENT_ID = "consolecheck"


class Failed(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failed(what)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Deployment:
    """What the stand-in saw and issued."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.origin = ""
        self.codes = {}  # code -> the authorize request's parameters
        self.tokens = {}  # ID token -> its claims
        self.authorizations = []
        self.token_requests = []
        self.logouts = []
        self.refused = []
        self.bearer_calls = 0
        self.lock = threading.Lock()

    def issue(self, claims: dict) -> str:
        header = b64url(json.dumps({"alg": "RS256", "kid": "stand-in"}).encode())
        payload = b64url(json.dumps(claims).encode())
        token = f"{header}.{payload}.{b64url(secrets.token_bytes(32))}"
        self.tokens[token] = claims
        return token


def handler_for(deployment: Deployment):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body=b"", headers=()):
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def answer_json(self, status, value):
            self.answer(status, json.dumps(value).encode(), [("Content-Type", "application/json")])

        def proxy(self, headers, body=None):
            request = urllib.request.Request(
                deployment.upstream + self.path, data=body, method=self.command, headers=headers)
            try:
                response = urllib.request.urlopen(request)
            except urllib.error.HTTPError as error:
                response = error
            kept = [(k, v) for k, v in response.headers.items()
                    if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server")]
            self.answer(response.status, response.read(), kept)

        def route(self):
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            console = f"{deployment.origin}/console/"
            with deployment.lock:
                if url.path == "/console/config.json":
                    return self.answer_json(200, {
                        "sign_in": "hosted_ui", "url": deployment.origin, "client_id": CLIENT_ID,
                        "tenant_claim": "custom:tenant_id", "role_claim": "custom:role"})
                if url.path == "/oauth2/authorize":
                    deployment.authorizations.append(query)
                    good = (query.get("response_type") == "code"
                            and query.get("client_id") == CLIENT_ID
                            and query.get("redirect_uri") == console
                            and query.get("code_challenge_method") == "S256"
                            and len(query.get("code_challenge", "")) == 43
                            and "openid" in query.get("scope", "").split()
                            and len(query.get("state", "")) >= 16)
                    if not good:
                        deployment.refused.append(("authorize", query))
                        return self.answer_json(400, {"error": "invalid_request"})
                    code = secrets.token_urlsafe(16)
                    deployment.codes[code] = query
                    back = f"{console}?{urllib.parse.urlencode({'code': code, 'state': query['state']})}"
                    return self.answer(302, headers=[("Location", back)])
                if url.path == "/oauth2/token" and self.command == "POST":
                    form = dict(urllib.parse.parse_qsl((body or b"").decode()))
                    deployment.token_requests.append(form)
                    asked = deployment.codes.pop(form.get("code", ""), None)
                    verifier = form.get("code_verifier", "")
                    good = (asked is not None
                            and form.get("grant_type") == "authorization_code"
                            and form.get("client_id") == CLIENT_ID
                            and form.get("redirect_uri") == asked["redirect_uri"]
                            and 43 <= len(verifier) <= 128
                            and b64url(hashlib.sha256(verifier.encode()).digest()) == asked["code_challenge"])
                    if not good:
                        deployment.refused.append(("token", form))
                        return self.answer_json(400, {"error": "invalid_grant"})
                    token = deployment.issue({
                        "sub": "op-1", "email": "ops@example.com", "aud": CLIENT_ID,
                        "custom:tenant_id": "t1", "custom:role": "admin", "token_use": "id"})
                    return self.answer_json(200, {
                        "id_token": token, "access_token": secrets.token_urlsafe(24),
                        "refresh_token": secrets.token_urlsafe(24), "expires_in": 3600,
                        "token_type": "Bearer"})
                if url.path == "/logout":
                    deployment.logouts.append(query)
                    if query.get("client_id") != CLIENT_ID or "logout_uri" not in query:
                        deployment.refused.append(("logout", query))
                        return self.answer_json(400, {"error": "invalid_request"})
                    return self.answer(302, headers=[("Location", query["logout_uri"])])
                if url.path.startswith("/v1/"):
                    bearer = self.headers.get("Authorization", "")
                    claims = deployment.tokens.get(bearer.removeprefix("Bearer "))
                    if not bearer.startswith("Bearer ") or claims is None:
                        deployment.refused.append(("api", self.path))
                        return self.answer_json(401, {"message": "Unauthorized"})
                    deployment.bearer_calls += 1
                    identity = {"X-Dev-Tenant": claims["custom:tenant_id"],
                                "X-Dev-Role": claims["custom:role"]}
                else:
                    identity = {}
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() in ("accept", "content-type", "if-match")}
            return self.proxy({**headers, **identity}, body)

        do_GET = do_POST = do_PUT = do_DELETE = route

    return Handler


def main(upstream: str, screenshots: str) -> None:
    shots = pathlib.Path(screenshots)
    shots.mkdir(parents=True, exist_ok=True)
    deployment = Deployment(upstream)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_for(deployment))
    deployment.origin = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"{deployment.origin}/console/"
    passed = []
    with tempfile.TemporaryDirectory(prefix="rulekit-sign-in-") as profile:
        driver = headless_chromium.start(profile)
        wait = WebDriverWait(driver, 10)

        def text_appears(css, text):
            wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))

        def button(name):
            return wait.until(EC.element_to_be_clickable(
                (By.XPATH, f"//button[normalize-space()='{name}']")))

        def stored():
            return driver.execute_script(
                "return [sessionStorage.getItem('rulekit.console.session'),"
                " localStorage.getItem('rulekit.console.session')]")

        requests = []
        console = []
        try:
            driver.get("about:blank")
            driver.get_log("performance")

            driver.get(base)
            text_appears("main", "Sign in with the account your administrator invited you with.")
            check(not driver.find_elements(By.NAME, "tenant"), "no tenant field: the pool names it")
            driver.save_screenshot(str(shots / "hosted-sign-in.png"))
            button("Sign in").click()
            text_appears("h1", "Automation Management")
            text_appears("table", "Seeded")
            text_appears("#who", "ops@example.com · t1 · admin")
            check("code=" not in driver.current_url and driver.current_url.endswith("#/automations"),
                  f"the code leaves the address: {driver.current_url}")
            check(len(deployment.authorizations) == 1 and len(deployment.token_requests) == 1,
                  "one authorization, one code traded")
            check(deployment.bearer_calls >= 1, "the API was called with the ID token")
            in_tab, everywhere = stored()
            check(in_tab and json.loads(in_tab)["token"] in deployment.tokens and everywhere is None,
                  "the token is kept for this tab only")
            driver.save_screenshot(str(shots / "hosted-signed-in.png"))
            passed.append("signed in through the hosted sign-in with PKCE, the API called with the ID token")

            # A return this tab did not start: refused, nothing traded, nobody signed in.
            driver.get(f"{base}?code=stolen&state=forged")
            text_appears(".problem", "This sign-in was not started here")
            check(len(deployment.token_requests) == 1, "a forged return trades no code")
            check(stored() == [None, None], "a forged return leaves nobody signed in")
            passed.append("a return with a state this tab did not make is refused")

            button("Sign in").click()
            text_appears("#who", "ops@example.com · t1 · admin")
            button("Sign out").click()
            text_appears("main", "Sign in with the account your administrator invited you with.")
            check(len(deployment.logouts) == 1
                  and deployment.logouts[0].get("logout_uri") == base,
                  f"sign-out ends the hosted session and returns here: {deployment.logouts}")
            check(stored() == [None, None], "nothing kept after signing out")
            passed.append("signed out of the console and the hosted session")

            check(deployment.refused == [], f"the stand-in refused nothing: {deployment.refused}")
            requests, console = headless_chromium.seen(driver)
        except Failed as failure:
            driver.save_screenshot(str(shots / "sign-in-failed.png"))
            sys.exit(f"the sign-in check failed: {failure} (after: {', '.join(passed)})")
        except Exception as error:
            driver.save_screenshot(str(shots / "sign-in-failed.png"))
            sys.exit(f"the sign-in check stopped: {error!r} (after: {', '.join(passed)})")
        finally:
            driver.quit()
            server.shutdown()
    print(json.dumps({"passed": passed, "origin": deployment.origin, "requests": requests,
                      "console": console}))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
