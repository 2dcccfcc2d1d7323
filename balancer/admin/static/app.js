// Qiao's dashboard: plain DOM and SVG, no framework, no build step. The admin key is asked once and kept in
// sessionStorage (this tab only); every call sends it as a bearer token to this gateway's /admin/ API.
"use strict";

const KEY = "qiao-admin-key";
const REFRESH_MS = 2000;
const SVG = "http://www.w3.org/2000/svg";
let timer = null;

function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + sessionStorage.getItem(KEY) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (r.status === 401 || r.status === 403) {
    sessionStorage.removeItem(KEY);
    showLogin((data.error && data.error.message) || "The admin key was refused.");
    throw new Error("unauthorised");
  }
  if (!r.ok) throw new Error((data.error && data.error.message) || r.status + " " + r.statusText);
  return data;
}

const fmtTime = (t) => (t ? new Date(t * 1000).toISOString().replace(/\.\d+Z$/, "Z").replace("T", " ") : "—");
const fmtNum = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("en", { maximumFractionDigits: 2 }));
const fmtCny = (n) => (n === null || n === undefined ? "—" : "¥" + (n && Math.abs(n) < 0.01 ? Number(n).toPrecision(2) : Number(n).toFixed(2)));

function showLogin(message) {
  clearInterval(timer);
  document.getElementById("board").hidden = true;
  document.getElementById("forget").hidden = true;
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message || "";
}

function providerRow(p) {
  const up = p.models.filter((m) => m.available).length;
  const why = p.reason ? p.reason + (p.until ? " until " + fmtTime(p.until) : "") : "";
  const down = p.models.filter((m) => !m.available).map((m) => m.model + ": " + m.reason).join("; ");
  const lim = p.limits;
  const quota = `${p.quota.requests}${lim.rpm ? " / " + lim.rpm : ""} req, ${fmtNum(p.quota.tokens)}${lim.tpm ? " / " + fmtNum(lim.tpm) : ""} tok`;
  const bal = p.balance ? (p.balance.error ? "error: " + p.balance.error : fmtCny(p.balance.total) + " " + (p.balance.currency || "")) : "—";
  const cap = p.spend.daily_cap === null ? "" : " / " + fmtCny(p.spend.daily_cap);
  const act = (what, label) => el("button", { type: "button", "data-action": what, onclick: () => act_on(p.name, what), text: label });
  const actions = el("td", {}, p.state === "drained" ? act("undrain", "Undrain") : act("drain", "Drain"), act("reset", "Reset"));
  return el("tr", { "data-provider": p.name },
    el("td", {}, el("strong", { text: p.name }), el("span", { class: "why", text: p.vendor })),
    el("td", {}, el("span", { class: "state", "data-state": p.state, text: p.state.replace("_", " ") }),
      el("span", { class: "why", text: [why, down].filter(Boolean).join("; ") })),
    el("td", { text: `${up} / ${p.models.length}` }),
    el("td", { text: quota }),
    el("td", { text: `${p.quota.in_flight}${lim.concurrency ? " / " + lim.concurrency : ""}` }),
    el("td", { text: bal }),
    el("td", { text: fmtCny(p.spend.today) + cap }),
    actions);
}

async function act_on(name, what) {
  const body = what === "reset" ? { breaker: true, cooldown: true } : undefined;
  try {
    await api("POST", `/admin/providers/${encodeURIComponent(name)}/${what}`, body ?? {});
    await refresh();
  } catch (e) {
    document.getElementById("notice").textContent = `${what} ${name}: ${e.message}`;
  }
}

function burnChart(g) {
  const W = 360, H = 150, L = 48, B = 20, T = 8, R = 10;
  const pts = [...g.history, ...g.plan];
  const t0 = Math.min(...pts.map((p) => p.t));
  const t1 = Math.max(...pts.map((p) => p.t), g.expires && g.expires < t0 + 400 * 86400 ? g.expires : 0);
  const top = Math.max(g.size, ...pts.map((p) => p.remaining)) || 1;
  const x = (t) => L + ((t - t0) / Math.max(t1 - t0, 1)) * (W - L - R);
  const y = (v) => T + (1 - v / top) * (H - T - B);
  const line = (cls, ps) => el("svg:polyline", { class: cls, points: ps.map((p) => `${x(p.t).toFixed(1)},${y(p.remaining).toFixed(1)}`).join(" ") });
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": `${g.provider}/${g.grant} burn-down` },
    el("svg:line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }),
    el("svg:line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }),
    el("svg:text", { x: 2, y: T + 8, text: fmtNum(top) }),
    el("svg:text", { x: 2, y: H - B, text: "0" }),
    el("svg:text", { x: L, y: H - 4, text: fmtTime(t0).slice(0, 10) }),
    el("svg:text", { x: W - R - 60, y: H - 4, text: fmtTime(t1).slice(0, 10) }),
    line("history", g.history), line("plan", g.plan));
  if (g.expires && g.expires <= t1) svg.append(el("svg:line", { class: "expiry", x1: x(g.expires), y1: T, x2: x(g.expires), y2: H - B }));
  for (const p of g.history) {
    svg.append(el("svg:circle", { class: "point", cx: x(p.t).toFixed(1), cy: y(p.remaining).toFixed(1), r: 3, "data-t": p.t, "data-remaining": p.remaining },
      el("svg:title", { text: `${fmtTime(p.t)}: ${fmtNum(p.remaining)} left` })));
  }
  return svg;
}

function grantCard(g) {
  const unit = g.unit === "tokens" ? " tokens" : " ¥";
  const fate = g.projected_exhaustion ? "plan: used up " + fmtTime(g.projected_exhaustion)
    : g.plan.length ? "plan: " + fmtNum(g.projected_waste) + unit + " left unspent at expiry"
    : "plan: not used up within the planning horizon";
  return el("div", { class: "grant", "data-grant": `${g.provider}/${g.grant}` },
    el("h3", { text: `${g.provider} / ${g.grant}` }),
    el("div", { class: "muted", text: `${fmtNum(g.remaining)} of ${fmtNum(g.size)}${unit} left; expires ${fmtTime(g.expires)}` }),
    el("div", { class: g.at_risk ? "risk" : "muted", text: fate }),
    el("div", { class: "muted value", "data-value": g.value ?? "", text: grantValue(g) }),
    burnChart(g));
}

function grantValue(g) {
  if (g.value === null) return "value: no plan yet";
  const per = g.unit === "tokens" ? " per million tokens" : " per ¥ of it";
  return `value to the plan: ${fmtCny(g.value)}${per}` + (g.value < 0.0005 ? " (the plan expects some left over)" : "");
}

function spendChart(rows) {
  const W = 460, H = 160, B = 20, T = 10;
  const days = rows.filter((r) => r.day).sort((a, b) => (a.day < b.day ? -1 : 1));
  if (!days.length) return el("p", { class: "muted", text: "No spend booked yet." });
  const top = Math.max(...days.map((r) => r.cost_cny)) || 1;
  const w = Math.min(40, (W - 20) / days.length - 4);
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "spend per day" },
    el("svg:text", { x: 2, y: T, text: fmtCny(top) }));
  days.forEach((r, i) => {
    const h = (r.cost_cny / top) * (H - T - B);
    svg.append(el("svg:rect", { class: "bar", x: 10 + i * (w + 4), y: H - B - h, width: w, height: Math.max(h, 1), "data-day": r.day, "data-cny": r.cost_cny },
      el("svg:title", { text: `${r.day}: ${fmtCny(r.cost_cny)}, ${r.requests} requests` })));
    svg.append(el("svg:text", { x: 10 + i * (w + 4), y: H - 6, text: r.day.slice(5) }));
  });
  return svg;
}

function keyRow(k) {
  const l = k.limits;
  const limits = [l.rpm && l.rpm + " rpm", l.tpm && fmtNum(l.tpm) + " tpm", l.concurrency && l.concurrency + " in flight"].filter(Boolean).join(", ") || "none";
  const of = (spent, budget) => fmtCny(spent) + (budget === null ? "" : " / " + fmtCny(budget));
  return el("tr", { "data-key": k.name }, el("td", { text: k.name }), el("td", { text: k.source }), el("td", { text: limits }),
    el("td", { text: of(k.spent_today_cny, k.daily_budget) }), el("td", { text: of(k.spent_month_cny, k.monthly_budget) }),
    el("td", { text: k.expires ? k.expires.slice(0, 16).replace("T", " ") : "—" }));
}

function failureRow(f) {
  const tries = (f.attempts || []).filter((a) => !a.result.startsWith("skipped")).map((a) => `${a.provider}: ${a.result}`).join(" → ");
  return el("tr", {}, el("td", { text: fmtTime(f.at) }), el("td", { text: f.status }), el("td", { text: f.route || "—" }),
    el("td", { text: f.client || "—" }), el("td", { text: tries || f.error || "" }), el("td", { text: f.provider || "—" }));
}

function fill(id, rows) {
  const body = document.querySelector(`#${id} tbody`) || document.getElementById(id);
  body.replaceChildren(...rows);
}

async function refresh() {
  const [status, grants, spend, keys, failures] = await Promise.all([
    api("GET", "/admin/status"), api("GET", "/admin/grants"), api("GET", "/admin/spend?by=day&days=14"),
    api("GET", "/admin/keys"), api("GET", "/admin/failures?limit=20"),
  ]);
  document.getElementById("meta").textContent =
    `state store: ${status.store.backend} (${status.store.status}) · plan: ${status.plan.status}` +
    (status.plan.error ? ` (re-plan failing since ${fmtTime(status.plan.error.since)}: ${status.plan.error.reason})` : "") +
    ` · updated ${fmtTime(status.at)}`;
  fill("providers", status.providers.map(providerRow));
  document.getElementById("grants").replaceChildren(...(grants.grants.length ? grants.grants.map(grantCard) : [el("p", { class: "muted", text: "No grants configured." })]));
  document.getElementById("spend").replaceChildren(spendChart(spend.rows));
  fill("keys", keys.keys.map(keyRow));
  fill("failures", failures.failures.map(failureRow));
  document.getElementById("notice").textContent = "";
}

function start() {
  document.getElementById("login").hidden = true;
  document.getElementById("board").hidden = false;
  document.getElementById("forget").hidden = false;
  const tick = () => refresh().catch((e) => { if (e.message !== "unauthorised") document.getElementById("notice").textContent = e.message; });
  tick();
  clearInterval(timer);
  timer = setInterval(tick, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, document.getElementById("admin-key").value.trim());
    document.getElementById("admin-key").value = "";
    start();
  });
  document.getElementById("forget").addEventListener("click", () => { sessionStorage.removeItem(KEY); showLogin(""); });
  if (sessionStorage.getItem(KEY)) start(); else showLogin("");
});
