// The operators' console: a page of the API it is served by (`/console/`), calling
// nothing but that API. Plain ES modules, no build step and no dependency: the router embeds
// these files as they are, so `rulekit serve` serves the console a checkout has.
//
// Pages are drawn with `h()` (elements and text nodes, never HTML strings: names and ids
// come from tenants' data). The API decides what a caller may do; the console only leaves
// out the controls a viewer may not use.

import { CONFIG, finishHostedSignIn, identityHeaders, session, signInByName, signOut, startHostedSignIn } from "./sign-in.js";

function isAdmin() {
  return session()?.role === "admin";
}

/** An element with attributes (`on*` functions become listeners) and children. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/**
 * Calls the API; answers `{status, body, etag}`. A 401 sends the caller to sign in. With
 * `html`, a page answered is its text (a problem is still JSON).
 */
async function api(method, path, { body, ifMatch, html } = {}) {
  const who = session();
  const headers = { Accept: html ? "text/html" : "application/json", ...identityHeaders(who) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (ifMatch !== undefined) headers["If-Match"] = `"${ifMatch}"`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (html && response.ok) return { status: response.status, body: text };
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { detail: text };
  }
  if (response.status === 401) {
    signOut();
    location.hash = "#/sign-in";
  }
  return { status: response.status, body: parsed, etag: response.headers.get("ETag") };
}

/** A problem answer (RFC 9457) as a person reads it: its detail and each field's reason. */
function problem(answer, doing) {
  const p = answer.body || {};
  return h(
    "div",
    { class: "problem", role: "alert" },
    h("p", {}, h("strong", {}, `${doing}: `), p.detail || p.title || `status ${answer.status}`),
    p.errors?.length
      ? h("ul", {}, p.errors.map((e) => h("li", {}, h("code", {}, e.field || "(body)"), ` ${e.message}`)))
      : null,
  );
}

/** Says `message` in the status line (read out by screen readers) for a few seconds. */
let quiet;
function say(message) {
  const status = document.getElementById("status");
  status.textContent = message;
  clearTimeout(quiet);
  quiet = setTimeout(() => (status.textContent = ""), 6000);
}

function show(...children) {
  const main = document.getElementById("main");
  main.replaceChildren(...children);
  main.focus();
}

function today() {
  return new Date().toISOString().slice(0, 10);
}

function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("small", {}, hint) : null);
}

function table(caption, headings, rows) {
  // Each cell names its column, for the narrow layout, where the headings are not shown.
  for (const row of rows) {
    [...row.children].forEach((cell, i) => headings[i] && cell.setAttribute("data-label", headings[i]));
  }
  return h(
    "table",
    {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, headings.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headings.length }, "None."))),
  );
}

// ---- Sign-in (local: the tenant and role `rulekit serve --dev-auth` accepts) ----------------

function signIn(trouble) {
  const problemShown = trouble ? h("div", { class: "problem", role: "alert" }, h("p", {}, h("strong", {}, "Not signed in: "), trouble)) : null;
  if (CONFIG.sign_in === "hosted_ui") {
    return show(
      h(
        "div",
        { class: "card" },
        h("h1", {}, "Sign in"),
        problemShown,
        h("p", {}, "Sign in with the account your administrator invited you with. Your tenant and role come with it."),
        h("button", { type: "button", onclick: startHostedSignIn }, "Sign in"),
      ),
    );
  }
  if (CONFIG.sign_in !== "dev") {
    return show(
      h(
        "div",
        { class: "card" },
        h("h1", {}, "Sign in"),
        h("p", {}, "This deployment names no sign-in for the console: its API function needs RULEKIT_CONSOLE_SIGN_IN_URL and RULEKIT_CONSOLE_CLIENT_ID (the template sets both when it creates the operators' user pool)."),
      ),
    );
  }
  const tenant = h("input", { name: "tenant", required: true, autocomplete: "organization", value: session()?.tenant || "" });
  const role = h(
    "select",
    { name: "role" },
    h("option", { value: "admin" }, "admin: may change automations and answer firings"),
    h("option", { value: "viewer" }, "viewer: reads only"),
  );
  const form = h(
    "form",
    {
      class: "card",
      onsubmit: (e) => {
        e.preventDefault();
        signInByName(tenant.value.trim(), role.value);
        location.hash = "#/automations";
      },
    },
    h("h1", {}, "Sign in"),
    h("p", {}, "This server trusts the tenant and role you name (rulekit serve --dev-auth): for this machine only."),
    field("Tenant", tenant),
    field("Role", role),
    h("button", { type: "submit" }, "Sign in"),
  );
  show(form);
}

// ---- Automations ----------------------------------------------------------------------------

function describeTrigger(a) {
  const t = a.trigger || {};
  const names = { past_due: "With past due balance", payment_failed: "A payment failed", cancellation_requested: "Asked to cancel" };
  const steps = a.steps || a.segments?.flatMap((s) => s.steps) || [];
  const days = t.thresholds_days
    ? ` (${t.thresholds_days.join(", ")} days)`
    : ` (${steps.length} ${steps.length === 1 ? "step" : "steps"})`;
  return `${names[t.type] || t.type}${days}`;
}

function describeAction(x) {
  const what = { notify: `notify ${x.channel || "finance"}`, message: `message ${x.template_id}`, offer: `offer ${x.offer_id}`, retry_payment: "retry the payment" };
  return what[x.type] || x.type;
}

function describeCondition(c) {
  return `${c.field} ${c.op} ${JSON.stringify(c.value)}`;
}

/** The steps, by segment when there are segments: day, name, owner, approval and actions. */
function describeSteps(a) {
  const steps = (list) =>
    h(
      "ol",
      { class: "steps" },
      list.map((st) =>
        h(
          "li",
          {},
          h("strong", {}, `Day ${st.day}`),
          ` ${st.name}`,
          st.owner ? ` · owner ${st.owner}` : "",
          st.approval ? ` · approved first${st.approval.when ? ` when ${st.approval.when.map(describeCondition).join(" and ")}` : ""}` : "",
          `: ${st.actions.map(describeAction).join(", ")}`,
        ),
      ),
    );
  if (a.segments) {
    return h(
      "ul",
      { class: "segments" },
      a.segments.map((sg) => h("li", {}, h("strong", {}, sg.name), sg.when ? ` (when ${sg.when.map(describeCondition).join(" and ")})` : " (everyone else)", steps(sg.steps))),
    );
  }
  if (a.steps) return steps(a.steps);
  return h("span", {}, (a.actions || []).map(describeAction).join(", ") || "none");
}

/** Says in `errors` that a save met a newer version (412) and overwrote nothing. */
function conflict(errors, what, reloadLabel, reload) {
  errors.replaceChildren(
    h(
      "div",
      { class: "problem conflict", role: "alert", tabindex: "-1" },
      h("p", {}, h("strong", {}, "Not saved: "), `${what}. Nothing was overwritten.`),
      h("button", { type: "button", onclick: reload }, reloadLabel),
    ),
  );
  errors.firstChild.focus();
}

/** Parses the document in `textarea`, or says in `errors` why it is not JSON. */
function parseDocument(textarea, errors, doing = "Not saved") {
  try {
    return JSON.parse(textarea.value);
  } catch (e) {
    errors.replaceChildren(h("div", { class: "problem", role: "alert", tabindex: "-1" }, h("p", {}, h("strong", {}, `${doing}: `), `the document is not JSON (${e.message}).`)));
    errors.firstChild.focus();
    return null;
  }
}

async function automations() {
  const answer = await api("GET", "/v1/automations?limit=100");
  if (answer.status !== 200) return show(problem(answer, "The automations could not be read"));
  const rows = answer.body.items.map((a) =>
    h(
      "tr",
      {},
      h("td", {}, h("a", { href: `#/automations/${encodeURIComponent(a.id)}` }, a.name)),
      h("td", {}, describeTrigger(a)),
      h("td", {}, a.enabled ? (a.mode === "dry_run" ? "dry run" : "live") : "disabled"),
      h("td", {}, a.version),
    ),
  );
  show(
    h("div", { class: "heading" }, h("h1", {}, "Automation Management"), isAdmin() ? h("a", { class: "button", href: "#/automations/new" }, "New Automation") : null),
    table("Automations", ["Name", "Trigger", "Runs", "Version"], rows),
  );
}

/** The seed's flow: the source, the trigger, the actions, then a name, and Save. */
function newAutomation() {
  if (!isAdmin()) return show(h("p", {}, "Only an admin creates automations."));
  const sources = [
    { id: "customer", label: "Customer", trigger: "past_due", text: "With past due balance", days: "14, 30" },
    { id: "payments", label: "Payments", trigger: "payment_failed", text: "A payment failed", days: "0, 3, 7" },
  ];
  let source = sources[0];
  const days = h("input", { name: "days", value: source.days, inputmode: "numeric", required: true });
  const subscription = h("input", { type: "checkbox", id: "f-sub", name: "require_active_subscription", checked: true });
  const triggerText = h("span", {}, source.text);
  const tabs = h("div", { role: "tablist", "aria-label": "Source" });
  const drawTabs = () =>
    tabs.replaceChildren(
      ...sources.map((s) =>
        h(
          "button",
          {
            type: "button",
            role: "tab",
            id: `tab-${s.id}`,
            "aria-selected": s === source ? "true" : "false",
            onclick: () => {
              source = s;
              days.value = s.days;
              triggerText.textContent = s.text;
              subscription.checked = s.trigger === "past_due";
              drawTabs();
            },
          },
          s.label,
        ),
      ),
    );
  drawTabs();

  const actions = h("ol", { class: "actions" });
  const addAction = () => {
    const kind = h(
      "select",
      { name: "action", "aria-label": `Action ${actions.children.length + 1}` },
      h("option", { value: "" }, "Choose the action…"),
      h("option", { value: "notify" }, "Notify the finance team"),
      h("option", { value: "message" }, "Send the customer a message"),
    );
    const template = h("input", { name: "template_id", placeholder: "template id, e.g. past-due-reminder" });
    const templateField = field("Message template", template);
    templateField.hidden = true;
    kind.addEventListener("change", () => (templateField.hidden = kind.value !== "message"));
    const item = h("li", {}, kind, templateField, h("button", { type: "button", class: "link", onclick: () => item.remove() }, "Remove"));
    actions.append(item);
    kind.focus();
  };

  // The start: the seed's form, or one of SPEC §8's playbooks as a document to adjust.
  let playbooks = [];
  const start = h("select", { name: "start" }, h("option", { value: "" }, "Past due balance at 14 and 30 days (fill in below)"));
  const documentText = h("textarea", { name: "document", rows: 18, spellcheck: "false" });
  const playbookSummary = h("div");
  const playbookPart = h(
    "fieldset",
    { hidden: true, disabled: true },
    h("legend", {}, "The playbook"),
    playbookSummary,
    field("The automation (JSON)", documentText, "Change the steps, segments, owners or templates here; the API checks every field when you save."),
  );
  const seedParts = [];
  const chooseStart = () => {
    const chosen = playbooks.find((p) => p.id === start.value);
    // A part not shown is disabled too, so its required fields do not stop the save.
    playbookPart.hidden = playbookPart.disabled = !chosen;
    for (const part of seedParts) part.hidden = part.disabled = !!chosen;
    if (chosen) {
      documentText.value = JSON.stringify(chosen.automation, null, 2);
      playbookSummary.replaceChildren(
        h("p", {}, `${chosen.title}. It starts in dry run: it records what it would do and sends nothing until you make it live.`),
        describeSteps(chosen.automation),
      );
    }
  };
  start.addEventListener("change", chooseStart);
  fetch("playbooks.json")
    .then((r) => (r.ok ? r.json() : []))
    .then((list) => {
      playbooks = list;
      start.append(...list.map((p) => h("option", { value: p.id }, p.title)));
    })
    // Without them the seed's form is still there.
    .catch(() => {});

  const name = h("input", { name: "name", required: true, maxlength: 200 });
  const id = h("input", { name: "id", pattern: "[A-Za-z0-9._:-]{1,128}", placeholder: "made from the name" });
  const activeFrom = h("input", { name: "active_from", type: "date", value: today() });
  const mode = h("select", { name: "mode" }, h("option", { value: "live" }, "live"), h("option", { value: "dry_run" }, "dry run: record, never send"));
  const errors = h("div");

  const save = async (e) => {
    e.preventDefault();
    const body = playbookPart.hidden ? fromForm() : parseDocument(documentText, errors);
    if (!body) return;
    if (activeFrom.value) body.active_from = activeFrom.value;
    if (activeFrom.value && activeFrom.value < today()) body.backfill = true;
    const answer = await api("POST", "/v1/automations", { body });
    if (answer.status === 201) {
      say(`Saved ${answer.body.name}.`);
      location.hash = `#/automations/${encodeURIComponent(answer.body.id)}`;
    } else {
      errors.replaceChildren(problem(answer, "Not saved"));
      errors.querySelector("[role=alert]")?.focus();
    }
  };

  const fromForm = () => {
    const thresholds = days.value.split(/[\s,]+/).filter(Boolean).map(Number);
    const chosen = [...actions.children].map((li) => {
      const type = li.querySelector("select").value;
      if (type === "notify") return { type, channel: "finance" };
      if (type === "message") return { type, template_id: li.querySelector("input").value.trim() };
      return { type };
    });
    const slug = name.value.trim().toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 100);
    return {
      id: id.value.trim() || slug,
      name: name.value.trim(),
      mode: mode.value,
      trigger: { type: source.trigger, thresholds_days: thresholds, require_active_subscription: subscription.checked },
      actions: chosen,
    };
  };

  seedParts.push(
    h("fieldset", {}, h("legend", {}, "1. Choose the source"), tabs),
    h(
      "fieldset",
      {},
      h("legend", {}, "2. Trigger"),
      h("p", {}, triggerText),
      field("Days", days, "Each number is a day of the clock the actions are taken on."),
      h("div", { class: "field inline" }, subscription, h("label", { for: "f-sub" }, "Only customers with an active subscription")),
    ),
    h("fieldset", {}, h("legend", {}, "3. Actions"), actions, h("button", { type: "button", onclick: addAction }, "Add Action")),
    h("fieldset", {}, h("legend", {}, "4. Name it"), field("Name", name), field("Id", id), field("Mode", mode)),
  );
  show(
    h(
      "form",
      { class: "card", onsubmit: save, "aria-labelledby": "new-title" },
      h("h1", { id: "new-title" }, "New Automation"),
      field("Start from", start),
      playbookPart,
      ...seedParts,
      field("Active from", activeFrom),
      errors,
      h("button", { type: "submit" }, "Save"),
    ),
  );
}

async function automation(id) {
  const answer = await api("GET", `/v1/automations/${encodeURIComponent(id)}`);
  if (answer.status !== 200) return show(problem(answer, `Automation ${id} could not be read`));
  const a = answer.body;
  const loaded = a.version;
  const result = h("div");

  // Saves `next` over the version loaded; a stale version is a conflict that overwrites nothing.
  const saveVersion = async (next, errors) => {
    delete next.version;
    const put = await api("PUT", `/v1/automations/${encodeURIComponent(id)}`, { body: next, ifMatch: loaded });
    if (put.status === 200) {
      say(`Saved version ${put.body.version}.`);
      automation(id);
    } else if (put.status === 412) {
      conflict(errors, `this automation changed after you opened it (you edited version ${loaded})`, "Reload the current version", () => automation(id));
    } else {
      errors.replaceChildren(problem(put, "Not saved"));
      errors.querySelector("[role=alert]")?.focus();
    }
  };

  const editor = () => {
    const name = h("input", { name: "name", value: a.name, required: true, maxlength: 200 });
    const days = h("input", { name: "days", value: (a.trigger.thresholds_days || []).join(", ") });
    const enabled = h("input", { type: "checkbox", id: "f-enabled", name: "enabled", checked: a.enabled });
    const mode = h("select", { name: "mode" }, h("option", { value: "live" }, "live"), h("option", { value: "dry_run" }, "dry run: record, never send"));
    mode.value = a.mode || "live";
    const errors = h("div");
    return h(
      "form",
      {
        class: "card",
        onsubmit: (e) => {
          e.preventDefault();
          const next = { ...a, name: name.value.trim(), enabled: enabled.checked, mode: mode.value };
          if (a.trigger.thresholds_days) {
            next.trigger = { ...a.trigger, thresholds_days: days.value.split(/[\s,]+/).filter(Boolean).map(Number) };
          }
          saveVersion(next, errors);
        },
      },
      h("h2", {}, "Edit"),
      field("Name", name),
      a.trigger.thresholds_days ? field("Days", days) : null,
      field("Mode", mode),
      h("div", { class: "field inline" }, enabled, h("label", { for: "f-enabled" }, "Enabled")),
      errors,
      h("button", { type: "submit" }, "Save changes"),
    );
  };

  /** The whole document, for what the form above does not reach: steps, segments, owners. */
  const documentEditor = () => {
    const current = { ...a };
    delete current.version;
    const text = h("textarea", { name: "document", rows: 18, spellcheck: "false" });
    text.value = JSON.stringify(current, null, 2);
    const errors = h("div");
    return h(
      "details",
      { class: "card" },
      h("summary", {}, "Edit the whole document (JSON)"),
      h(
        "form",
        {
          onsubmit: (e) => {
            e.preventDefault();
            const next = parseDocument(text, errors);
            if (next) saveVersion(next, errors);
          },
        },
        field("The automation (JSON)", text, "Steps, segments, owners, approvals and actions; the API checks every field."),
        errors,
        h("button", { type: "submit" }, "Save the document"),
      ),
    );
  };

  const date = h("input", { type: "date", name: "date", value: today(), required: true });
  const preview = h(
    "form",
    {
      class: "card",
      onsubmit: async (e) => {
        e.preventDefault();
        const run = await api("POST", `/v1/automations/${encodeURIComponent(id)}/preview`, { body: { date: date.value } });
        if (run.status !== 200) return result.replaceChildren(problem(run, "No preview"));
        const rows = run.body.decisions.map((d) =>
          h(
            "tr",
            { class: d.decision },
            h("td", {}, h("a", { href: `#/customers/${encodeURIComponent(d.customer_id)}` }, d.customer_id)),
            h("td", {}, d.decision),
            h("td", {}, d.step || `day ${d.threshold_days}`),
            h("td", {}, d.days_past_due ?? ""),
            h("td", {}, d.reason ? `${d.reason}: ${d.detail || ""}` : ""),
          ),
        );
        result.replaceChildren(table(`Decisions on ${run.body.date}${run.body.guardrail_held ? " (held by the guardrail)" : ""}`, ["Customer", "Decision", "Step", "Days", "Why not"], rows));
      },
    },
    h("h2", {}, "Preview a date"),
    h("p", {}, "What the daily run would decide on that date, with each reason. Nothing is recorded or sent."),
    field("Date", date),
    h("button", { type: "submit" }, "Preview"),
    result,
  );

  show(
    h("div", { class: "heading" }, h("h1", {}, a.name), h("span", { class: "tag" }, `version ${a.version}`)),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Trigger"),
      h("dd", {}, describeTrigger(a)),
      h("dt", {}, "Runs"),
      h("dd", {}, a.enabled ? a.mode : "disabled"),
      h("dt", {}, "Active from"),
      h("dd", {}, a.active_from || "always"),
      h("dt", {}, a.steps || a.segments ? "Steps" : "Actions"),
      h("dd", {}, describeSteps(a)),
    ),
    preview,
    isAdmin() ? editor() : null,
    isAdmin() ? documentEditor() : null,
  );
}

// ---- Firings, customers, the audit log ------------------------------------------------------

const STATUSES = ["pending", "sending", "held", "sent", "cancelled", "failed", "discarded", "dry_run", "settled", "awaiting_approval", "rejected", "expired"];

/**
 * The firings the guardrail held on `date`, one row per automation, with Release and Discard
 * (an admin's; Discard asks once more, as nothing brings discarded firings back).
 */
async function heldFirings(date, reload) {
  const answer = await api("GET", `/v1/firings?date=${date}&status=held&limit=1000`);
  if (answer.status !== 200) return problem(answer, "The held firings could not be read");
  const counts = new Map();
  for (const f of answer.body.items) counts.set(f.automation_id, (counts.get(f.automation_id) || 0) + 1);
  if (!counts.size) return h("div");
  const more = answer.body.next_cursor ? " or more" : "";
  const move = (automation, verb) => async () => {
    const done = await api("POST", `/v1/firings/${verb}`, { body: { automation_id: automation, date } });
    if (done.status === 200) {
      say(`${verb === "release" ? "Released" : "Discarded"} ${done.body.moved} firings of ${automation}.`);
      reload();
    } else section.prepend(problem(done, `Not ${verb === "release" ? "released" : "discarded"}`));
  };
  const rows = [...counts].map(([automation, count]) => {
    const controls = h("td", {});
    const offer = () =>
      controls.replaceChildren(
        h("button", { type: "button", onclick: move(automation, "release") }, "Release"),
        " ",
        h("button", { type: "button", class: "secondary", onclick: confirmDiscard }, "Discard"),
      );
    const confirmDiscard = () => {
      controls.replaceChildren(
        h("span", { role: "alert" }, `Discard ${count}${more} firings? They will never be carried out. `),
        h("button", { type: "button", class: "danger", onclick: move(automation, "discard") }, "Yes, discard them"),
        " ",
        h("button", { type: "button", class: "secondary", onclick: offer }, "Keep them"),
      );
      controls.querySelector("button").focus();
    };
    if (isAdmin()) offer();
    return h("tr", {}, h("td", {}, automation), h("td", {}, `${count}${more}`), controls);
  });
  const section = h(
    "section",
    { class: "card held", "aria-labelledby": "held-title" },
    h("h2", { id: "held-title" }, `Held by the guardrail on ${date}`),
    h("p", {}, "One run would have fired these automations for too many customers at once, so nothing was carried out. Release them to carry them out, or discard them."),
    table("Held firings", ["Automation", "Held", ""], rows),
  );
  return section;
}

async function firings() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const awaiting = params.get("status") === "awaiting_approval" && !params.get("date");
  const date = h("input", { type: "date", name: "date", value: params.get("date") || today() });
  const status = h("select", { name: "status" }, h("option", { value: "" }, "every status"), STATUSES.map((st) => h("option", { value: st }, st.replaceAll("_", " "))));
  status.value = awaiting ? "" : params.get("status") || "";
  const held = h("div");
  const list = h("div");
  const load = async () => {
    const query = awaiting ? "status=awaiting_approval" : `date=${date.value}${status.value ? `&status=${status.value}` : ""}`;
    const answer = await api("GET", `/v1/firings?${query}&limit=200`);
    if (answer.status !== 200) return list.replaceChildren(problem(answer, "The firings could not be read"));
    const rows = answer.body.items.map((f) => {
      const answerFiring = (verb) => async () => {
        const done = await api("POST", `/v1/firings/${encodeURIComponent(f.firing_id)}/${verb}`);
        if (done.status === 200) {
          say(`Firing ${verb === "approve" ? "approved" : "rejected"}.`);
          load();
        } else list.prepend(problem(done, `Not ${verb}d`));
      };
      return h(
        "tr",
        {},
        h("td", {}, f.date),
        h("td", {}, f.automation_id),
        h("td", {}, h("a", { href: `#/customers/${encodeURIComponent(f.customer_id)}` }, f.customer_id)),
        h("td", {}, f.step || `day ${f.threshold_days}`),
        h("td", {}, f.status),
        h(
          "td",
          {},
          isAdmin() && f.status === "awaiting_approval"
            ? [h("button", { type: "button", onclick: answerFiring("approve") }, "Approve"), " ", h("button", { type: "button", class: "secondary", onclick: answerFiring("reject") }, "Reject")]
            : null,
        ),
      );
    });
    const caption = awaiting ? "Awaiting approval, every date" : `Firings on ${date.value}${status.value ? `, ${status.value.replaceAll("_", " ")}` : ""}`;
    list.replaceChildren(table(caption, ["Date", "Automation", "Customer", "Step", "Status", ""], rows));
    held.replaceChildren(awaiting ? h("div") : await heldFirings(date.value, load));
  };
  show(
    h("h1", {}, "Firings"),
    h(
      "form",
      {
        class: "inline-form",
        onsubmit: (e) => {
          e.preventDefault();
          const next = `#/firings?date=${date.value}${status.value ? `&status=${status.value}` : ""}`;
          if (location.hash === next) load();
          else location.hash = next;
        },
      },
      field("Date", date),
      field("Status", status),
      h("button", { type: "submit" }, "Show"),
      h("a", { href: "#/firings?status=awaiting_approval" }, "Awaiting approval, every date"),
    ),
    held,
    list,
  );
  load();
}

async function customers(id) {
  const input = h("input", { name: "customer", value: id || "", required: true });
  const date = h("input", { type: "date", name: "date", value: today() });
  const out = h("div");
  const load = async () => {
    const answer = await api("GET", `/v1/customers/${encodeURIComponent(input.value.trim())}?date=${date.value}`);
    if (answer.status !== 200) return out.replaceChildren(problem(answer, "No such customer"));
    const c = answer.body;
    const owed = c.balance ? `${(Math.abs(c.balance.amount_minor) / 100).toFixed(2)} ${c.balance.currency}` : "nothing";
    out.replaceChildren(
      h("p", {}, `${c.past_due ? "Past due" : "Not past due"}; balance ${c.balance && c.balance.amount_minor < 0 ? "owed " : ""}${owed}.`),
      h("h2", {}, "Why, and why not"),
      h("ul", { class: "why" }, c.explanations.map((x) => h("li", {}, h("strong", {}, `${x.automation_id}: `), x.why))),
    );
  };
  show(
    h("h1", {}, "Customers"),
    h("form", { class: "inline-form", onsubmit: (e) => (e.preventDefault(), load()) }, field("Customer id", input), field("Date", date), h("button", { type: "submit" }, "Explain")),
    out,
  );
  if (id) load();
}

async function audit() {
  const answer = await api("GET", "/v1/audit?limit=100");
  if (answer.status !== 200) return show(problem(answer, "The audit log could not be read"));
  const rows = answer.body.items.map((e) => h("tr", {}, h("td", {}, e.at), h("td", {}, e.actor), h("td", {}, e.action), h("td", {}, e.resource)));
  show(h("h1", {}, "Audit log"), table("Every change, newest first", ["When", "Who", "What", "Resource"], rows));
}

// ---- Settings -------------------------------------------------------------------------------

/** One sample change of a normalization preview, as a person reads it. */
function describeChange(c) {
  const key = c.from_key && c.from_key !== c.key ? `${c.from_key} → ${c.key}` : c.key;
  const value = (v) => (v === undefined || v === null ? "(none)" : JSON.stringify(v));
  return `${c.customer_id}: ${key} ${value(c.before)} → ${value(c.after)}${c.outcome === "changed" ? "" : ` (${c.outcome.replaceAll("_", " ")})`}`;
}

/**
 * The tenant's settings: the calendar, the guardrail and the limits as fields, decline
 * overrides and the normalization rules as JSON; the rules previewed over the stored customers
 * before they are saved; a save under If-Match.
 */
async function settings() {
  const [answer, status] = await Promise.all([api("GET", "/v1/settings"), api("GET", "/v1/normalization/status")]);
  if (answer.status !== 200) return show(problem(answer, "The settings could not be read"));
  const st = answer.body;
  const admin = isAdmin();
  const input = (name, value, attrs = {}) => h("input", { name, value, disabled: !admin, ...attrs });
  const timezone = input("timezone", st.timezone, { required: true, autocomplete: "off" });
  const hour = input("evaluation_hour", st.evaluation_hour, { type: "number", min: 0, max: 23, required: true });
  const minCount = input("min_count", st.guardrail.min_count, { type: "number", min: 1, required: true });
  const maxShare = input("max_share", st.guardrail.max_share, { type: "number", min: 0.0001, max: 1, step: "any", required: true });
  const quiet = input("min_days_between_messages", st.min_days_between_messages, { type: "number", min: 0, required: true });
  const retries = input("max_retries_per_30_days", st.max_retries_per_30_days, { type: "number", min: 1, max: 20, required: true });
  const overrides = h("textarea", { name: "decline_overrides", rows: 4, spellcheck: "false", disabled: !admin });
  overrides.value = JSON.stringify(st.decline_overrides, null, 2);
  const rules = h("textarea", { name: "rules", rows: 14, spellcheck: "false" });
  rules.readOnly = !admin;
  rules.value = JSON.stringify(st.normalization.rules, null, 2);
  const errors = h("div");
  const previewed = h("div");

  const preview = async () => {
    const parsed = parseDocument(rules, previewed, "No preview");
    if (!parsed) return;
    const run = await api("POST", "/v1/normalization/preview", { body: { rules: parsed } });
    if (run.status !== 200) return previewed.replaceChildren(problem(run, "No preview"));
    const p = run.body;
    const rows = p.rules.map((r) =>
      h("tr", {}, h("td", {}, r.rule + 1), h("td", {}, r.type + (r.enforce ? "" : " (report only)")), h("td", {}, r.profiles), h("td", {}, h("ul", { class: "samples" }, r.sample.map((c) => h("li", {}, describeChange(c)))))),
    );
    previewed.replaceChildren(
      h("p", { class: "summary" }, `${p.profiles_changed} of ${p.profiles_read} profiles would change (${p.customers_read} customers read${p.complete ? "" : "; not every customer was read"}). Nothing is saved.`),
      table("What each rule would do", ["Rule", "Type", "Profiles", "Samples"], rows),
    );
  };

  const save = async (e) => {
    e.preventDefault();
    const declines = parseDocument(overrides, errors);
    const parsedRules = declines && parseDocument(rules, errors);
    if (!parsedRules) return;
    const next = {
      timezone: timezone.value.trim(),
      evaluation_hour: Number(hour.value),
      guardrail: { min_count: Number(minCount.value), max_share: Number(maxShare.value) },
      min_days_between_messages: Number(quiet.value),
      max_retries_per_30_days: Number(retries.value),
      decline_overrides: declines,
      normalization: { rules: parsedRules },
    };
    const put = await api("PUT", "/v1/settings", { body: next, ifMatch: st.version });
    if (put.status === 200) {
      say(`Saved settings version ${put.body.version}.`);
      settings();
    } else if (put.status === 412) {
      conflict(errors, `the settings changed after you opened them (you edited version ${st.version})`, "Reload the current settings", settings);
    } else {
      errors.replaceChildren(problem(put, "Not saved"));
      errors.querySelector("[role=alert]")?.focus();
    }
  };

  const renorm = status.status === 200 ? status.body : null;
  show(
    h("div", { class: "heading" }, h("h1", {}, "Settings"), h("span", { class: "tag" }, `version ${st.version}`)),
    h(
      "form",
      { class: "card", onsubmit: save },
      h("fieldset", {}, h("legend", {}, "The tenant's day"), field("Time zone", timezone, "An IANA zone, e.g. America/New_York: days are counted in it"), field("Evaluation hour", hour, "The local hour the daily run decides at (0-23)")),
      h("fieldset", {}, h("legend", {}, "Guardrail"), field("At least this many customers", minCount), field("And more than this share of the past-due customers", maxShare, "A run that would fire an automation for both is held for an operator")),
      h("fieldset", {}, h("legend", {}, "Limits"), field("Days between messages to one customer", quiet), field("Payment retries per 30 days", retries), field("Decline overrides (JSON)", overrides, "Failure code → hard, action_required, soft or unknown")),
      h(
        "fieldset",
        {},
        h("legend", {}, "Metadata normalization"),
        renorm ? h("p", {}, `Rules version ${renorm.rules_version}; re-normalization of the stored customers: ${renorm.state.replaceAll("_", " ")}${renorm.state === "none" ? "" : ` (${renorm.customers_read} customers read, ${renorm.profiles_changed} profiles changed)`}.`) : null,
        field("The rules (JSON)", rules, "Applied in order to every profile; preview them over the stored customers before saving."),
        h("button", { type: "button", class: "secondary", onclick: preview }, "Preview the rules"),
        previewed,
      ),
      errors,
      admin ? h("button", { type: "submit" }, "Save settings") : null,
    ),
  );
}

// ---- Reports ------------------------------------------------------------------------------

/** The ISO week (`2026-W47`) of a date: the week of its Thursday. */
function isoWeek(date) {
  const d = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  d.setUTCDate(d.getUTCDate() + 4 - (d.getUTCDay() || 7));
  const year = d.getUTCFullYear();
  const week = Math.ceil(((d - Date.UTC(year, 0, 1)) / 86400000 + 1) / 7);
  return `${year}-W${String(week).padStart(2, "0")}`;
}

/**
 * The weekly review or the aging table, as the API draws it: the same self-contained page
 * the weekly job sends and `rulekit simulate --report` writes, shown in a frame that may run
 * nothing (`sandbox`), with a link to keep it.
 */
function reports(kind) {
  const weekly = kind !== "aging";
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const input = weekly
    ? h("input", { type: "week", name: "week", required: true, value: params.get("week") || isoWeek(new Date(Date.now() - 7 * 86400000)) })
    : h("input", { type: "date", name: "date", required: true, value: params.get("date") || today() });
  const out = h("div");
  let shown;
  const load = async () => {
    const query = weekly ? `week=${input.value}` : `date=${input.value}`;
    const answer = await api("GET", `/v1/reports/${weekly ? "weekly" : "aging"}?${query}&format=html`, { html: true });
    if (shown) URL.revokeObjectURL(shown);
    shown = null;
    if (answer.status !== 200) return out.replaceChildren(problem(answer, weekly ? "No review" : "No aging table"));
    shown = URL.createObjectURL(new Blob([answer.body], { type: "text/html" }));
    const name = `${session().tenant}-${weekly ? input.value : `aging-${input.value}`}.html`;
    out.replaceChildren(
      h("p", {}, h("a", { href: shown, download: name }, `Download this page (${name})`)),
      h("iframe", { class: "report", src: shown, sandbox: "", title: weekly ? `The weekly review of ${input.value}` : `The aging table of ${input.value}` }),
    );
  };
  show(
    h("div", { class: "heading" }, h("h1", {}, weekly ? "Weekly review" : "Aging"), h("nav", { "aria-label": "Reports", class: "tabs-links" }, h("a", { href: "#/reports/weekly", "aria-current": weekly ? "page" : null }, "Weekly review"), " ", h("a", { href: "#/reports/aging", "aria-current": weekly ? null : "page" }, "Aging"))),
    h(
      "form",
      { class: "inline-form", onsubmit: (e) => (e.preventDefault(), load()) },
      field(weekly ? "Week" : "Date", input, weekly ? "Monday to Sunday in the tenant's zone" : "Today's table is drawn up now; an earlier one is the Monday the weekly job recorded"),
      h("button", { type: "submit" }, "Show"),
    ),
    out,
  );
  load();
}

// ---- The router -----------------------------------------------------------------------------

function route() {
  const who = session();
  const [path] = location.hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  document.getElementById("nav").hidden = !who;
  document.getElementById("who").replaceChildren(
    ...(who ? [`${who.name ? `${who.name} · ` : ""}${who.tenant} · ${who.role} `, h("button", { type: "button", class: "link", onclick: () => signOut() || route() }, "Sign out")] : []),
  );
  if (!who || parts[0] === "sign-in") return signIn();
  switch (parts[0]) {
    case "automations":
      if (parts[1] === "new") return newAutomation();
      return parts[1] ? automation(parts[1]) : automations();
    case "firings":
      return firings();
    case "customers":
      return customers(parts[1]);
    case "audit":
      return audit();
    case "reports":
      return reports(parts[1]);
    case "settings":
      return settings();
    default:
      location.hash = "#/automations";
  }
}

addEventListener("hashchange", route);
const returned = await finishHostedSignIn();
if (returned?.error) {
  document.getElementById("nav").hidden = true;
  signIn(returned.error);
} else {
  route();
}
