// How the console knows its caller, as `config.json` says this deployment signs in:
//
// - `dev` (`rulekit serve --dev-auth`): the operator names a tenant and a role, sent as the
//   dev headers. No secret, so it is kept in localStorage, for every tab of this browser.
// - `hosted_ui` (a Cognito user pool): the authorization-code flow with PKCE (RFC 7636) against
//   the hosted sign-in, for a public client with no secret. The ID token it returns carries
//   the tenant and the role and is the bearer API Gateway's JWT authorizer verifies. It is kept
//   in sessionStorage: gone with the tab, never written where another tab or a later visit
//   finds it. The console reads the token's claims only to show who is signed in and which
//   controls to draw; the API decides.
// - `none`: nothing is configured, and the console says so.

const SESSION = "rulekit.console.session";
const PENDING = "rulekit.console.sign-in";

export const CONFIG = await fetch("config.json")
  .then((r) => (r.ok ? r.json() : { sign_in: "none" }))
  .catch(() => ({ sign_in: "none" }));

const HOSTED = CONFIG.sign_in === "hosted_ui";
const kept = HOSTED ? sessionStorage : localStorage;

/** The caller: `{tenant, role}`, and `token` and `expires` when signed in with the pool. */
export function session() {
  let who = null;
  try {
    who = JSON.parse(kept.getItem(SESSION) || "null");
  } catch {
    who = null;
  }
  // An ID token past its time would be refused: sign in again instead of failing each call.
  if (who?.expires && who.expires <= Date.now()) {
    kept.removeItem(SESSION);
    return null;
  }
  return who;
}

/** The headers that say who calls. */
export function identityHeaders(who) {
  if (!who) return {};
  if (who.token) return { Authorization: `Bearer ${who.token}` };
  return { "X-Dev-Tenant": who.tenant, "X-Dev-Role": who.role };
}

export function signInByName(tenant, role) {
  kept.setItem(SESSION, JSON.stringify({ tenant, role }));
}

/** Forgets the caller; with the pool, also ends the hosted sign-in's own session. */
export function signOut() {
  kept.removeItem(SESSION);
  if (!HOSTED) return false;
  const query = new URLSearchParams({ client_id: CONFIG.client_id, logout_uri: returnAddress() });
  location.assign(`${CONFIG.url}/logout?${query}`);
  return true;
}

/** Where the hosted sign-in sends the operator back: this page, one of the client's callbacks. */
function returnAddress() {
  return `${location.origin}${location.pathname}`;
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function random(length) {
  return base64url(crypto.getRandomValues(new Uint8Array(length)));
}

/** Goes to the hosted sign-in with a fresh verifier and state, kept for the return. */
export async function startHostedSignIn() {
  const verifier = random(32);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const state = random(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, back: location.hash || "#/automations" }));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: CONFIG.client_id,
    redirect_uri: returnAddress(),
    scope: "openid email",
    state,
    code_challenge: base64url(new Uint8Array(digest)),
    code_challenge_method: "S256",
  });
  location.assign(`${CONFIG.url}/oauth2/authorize?${query}`);
}

/** The role a claim names, read as the API reads it: `admin` or `viewer`, or a list (as
 * Cognito's groups are) with one of them as a member. */
function roleOf(claim) {
  const members = Array.isArray(claim) ? claim.map(String) : String(claim ?? "").split(/[\s,[\]"]+/);
  if (members.includes("admin")) return "admin";
  return members.includes("viewer") ? "viewer" : "";
}

function claims(token) {
  const payload = token.split(".")[1] || "";
  const text = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(text, (c) => c.charCodeAt(0))));
}

/**
 * On the return from the hosted sign-in (`?code=&state=`, or `?error=`): checks the state,
 * trades the code and the verifier for the tokens, and keeps the ID token. Answers `null` when
 * this is no return, `{ok: true}`, or `{error}` to show. The address loses the code either way.
 */
export async function finishHostedSignIn() {
  const params = new URLSearchParams(location.search);
  if (!HOSTED || !(params.has("code") || params.has("error"))) return null;
  let pending = null;
  try {
    pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  } catch {
    pending = null;
  }
  sessionStorage.removeItem(PENDING);
  // A return is a new sign-in: whoever was signed in before is not, whatever it comes to.
  kept.removeItem(SESSION);
  history.replaceState(null, "", `${location.pathname}${pending?.back || "#/automations"}`);
  if (params.has("error")) {
    return { error: `The sign-in answered ${params.get("error")}${params.get("error_description") ? `: ${params.get("error_description")}` : ""}.` };
  }
  if (!pending || pending.state !== params.get("state")) {
    return { error: "This sign-in was not started here (its state does not match): nothing was kept. Sign in again." };
  }
  let answer;
  try {
    const response = await fetch(`${CONFIG.url}/oauth2/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        client_id: CONFIG.client_id,
        code: params.get("code"),
        redirect_uri: returnAddress(),
        code_verifier: pending.verifier,
      }),
    });
    answer = await response.json();
    if (!response.ok || !answer.id_token) throw new Error(answer.error || `status ${response.status}`);
  } catch (e) {
    return { error: `The sign-in could not be completed (${e.message}). Sign in again.` };
  }
  const said = claims(answer.id_token);
  kept.setItem(
    SESSION,
    JSON.stringify({
      tenant: said[CONFIG.tenant_claim],
      role: roleOf(said[CONFIG.role_claim]),
      name: said.email || said.sub,
      token: answer.id_token,
      // A minute early, so a call is not sent with a token about to lapse.
      expires: Date.now() + (Number(answer.expires_in) || 3600) * 1000 - 60000,
    }),
  );
  return { ok: true };
}
