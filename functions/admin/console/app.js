// The operator console: one small script, no build step. Every figure comes from the admin JSON routes
// (infra/pulumi/openapi.yaml, admin section); the session cookie set at sign-in authenticates each call.
// An empty store is shown as "no data", never as a chart of zeros.
"use strict";

const main = document.getElementById("page");
const PAGE = main.dataset.page;
const TILE_URL = main.dataset.tiles || "";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

async function api(path, options = {}) {
  const init = {credentials: "same-origin", ...options, headers: {...(options.headers || {})}};
  if (options.body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  const resp = await fetch(path, init);
  if (resp.status === 401) { location.reload(); throw new Error("signed out"); }
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error((body.error && body.error.message) || `${resp.status} from ${path}`);
  return body;
}

const fmt = (v, digits = 3) => (v === null || v === undefined) ? "–" :
  (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(digits)) : String(v));
const when = (iso) => iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "–";
const badge = (s) => el("span", {class: `badge ${s}`}, s);
const card = (...children) => el("section", {class: "card"}, ...children);
const empty = (text) => el("div", {class: "empty"}, text);
const notice = (text, error = false) => el("div", {class: error ? "notice error" : "notice", role: "status"}, text);

function chart(config) {
  const canvas = el("canvas");
  const box = el("div", {class: "chart"}, canvas);
  requestAnimationFrame(() => new Chart(canvas, {...config, options: {maintainAspectRatio: false, animation: false,
                                                                      ...(config.options || {})}}));
  box.dataset.chart = config.type;
  return box;
}

// metric confidence intervals: every {mean, low, high} object found under `node`, keyed by its path
function intervals(node, path = "", out = {}) {
  if (!node || typeof node !== "object") return out;
  if (typeof node.mean === "number" && typeof node.low === "number" && typeof node.high === "number") {
    out[node.name || path || "value"] = node;
    return out;
  }
  for (const [k, v] of Object.entries(node)) intervals(v, path ? `${path}.${k}` : k, out);
  return out;
}

const PALETTE = ["#2457c5", "#d9822b", "#2f9e44", "#b3261e", "#7048e8", "#0c8599", "#868e96"];

// one chart of means with their 95% intervals: a floating bar from low to high per series, with a tick at the mean
// drawn inside the bar (so the mean sits on its own interval, whatever the grouping)
const meanTicks = {
  id: "meanTicks",
  afterDatasetsDraw(c) {
    const ctx = c.ctx;
    c.data.datasets.forEach((ds, i) => {
      if (!ds.means) return;
      c.getDatasetMeta(i).data.forEach((bar, j) => {
        const mean = ds.means[j];
        if (mean === null || mean === undefined || !bar) return;
        const y = c.scales.y.getPixelForValue(mean), half = bar.width / 2;
        ctx.save(); ctx.strokeStyle = ds.borderColor; ctx.lineWidth = 3;
        ctx.beginPath(); ctx.moveTo(bar.x - half, y); ctx.lineTo(bar.x + half, y); ctx.stroke(); ctx.restore();
      });
    });
  },
};

function ciChart(metricNames, series) {
  const datasets = series.map((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    return {label: `${s.label}: 95% CI, line at the mean`, backgroundColor: color + "55", borderColor: color, borderWidth: 1,
            minBarLength: 3, data: metricNames.map((m) => s.cis[m] ? [s.cis[m].low, s.cis[m].high] : null),
            means: metricNames.map((m) => s.cis[m] ? s.cis[m].mean : null)};
  });
  return chart({type: "bar", data: {labels: metricNames, datasets}, plugins: [meanTicks],
                options: {scales: {y: {beginAtZero: true}}, plugins: {legend: {labels: {boxWidth: 12}},
                  tooltip: {callbacks: {label: (t) => {
                    const ds = t.dataset, [lo, hi] = ds.data[t.dataIndex];
                    return `${ds.label.split(":")[0]}: ${fmt(ds.means[t.dataIndex])} [${fmt(lo)}, ${fmt(hi)}]`;
                  }}}}}});
}

// --- Models ------------------------------------------------------------------------------------------------------------
async function modelsPage() {
  const {models} = await api("/v1/admin/models");
  main.replaceChildren(el("h1", {}, "Models"));
  if (!models.length) { main.append(card(empty("No model is registered yet: the nightly learning loop registers candidates."))); return; }
  const byName = {};
  for (const m of models) (byName[m.name] = byName[m.name] || []).push(m);
  for (const [name, rows] of Object.entries(byName)) {
    const table = el("table", {"data-model": name},
      el("tr", {}, ["version", "status", "created", "promoted", "latest evaluation", "how promoted", ""].map((h) => el("th", {}, h))));
    for (const m of rows) {
      const cis = intervals(m.latest_evaluation);
      const actions = el("td", {});
      if (m.status === "shadow") actions.append(el("button", {class: "act", "data-action": "promote", onclick: () => promote(m)}, "Promote"));
      if (m.status === "production") actions.append(el("button", {class: "act warn", "data-action": "rollback", onclick: () => rollback(m)}, "Roll back"));
      const promo = m.promotion ? (m.promotion.manual ? `manual: ${m.promotion.reason || ""}` : `gate${m.promotion.passed ? " passed" : ""}`) : "–";
      table.append(el("tr", {"data-version": m.version, "data-status": m.status},
        el("td", {}, m.version), el("td", {class: "status"}, badge(m.status)), el("td", {}, when(m.created_at)),
        el("td", {}, when(m.promoted_at)),
        el("td", {}, Object.keys(cis).length ? Object.entries(cis).map(([k, c]) => `${k} ${fmt(c.mean)} [${fmt(c.low)}, ${fmt(c.high)}]`).join("; ") : el("span", {class: "muted"}, "not evaluated")),
        el("td", {}, promo), actions));
    }
    // production against shadow (and candidates): the same metrics side by side
    const compared = rows.filter((m) => ["production", "shadow", "candidate"].includes(m.status));
    const series = compared.map((m) => ({label: `${m.version} (${m.status})`, cis: intervals(m.latest_evaluation)}));
    const metricNames = [...new Set(series.flatMap((s) => Object.keys(s.cis)))];
    main.append(card(el("h2", {}, name), table,
      el("h2", {}, "Metrics with 95% confidence intervals: production vs shadow"),
      metricNames.length ? ciChart(metricNames, series) : empty("No evaluation figures on these rows yet: nothing to chart.")));
  }
}

async function promote(m) {
  const reason = prompt(`Promote ${m.name}@${m.version} from shadow to production? Give the reason:`);
  if (!reason) return;
  try {
    await api(`/v1/admin/models/${encodeURIComponent(m.name)}/${encodeURIComponent(m.version)}/promote`, {method: "POST", body: {reason}});
    await modelsPage();
    main.prepend(notice(`${m.name}@${m.version} is now in production.`));
  } catch (e) { main.prepend(notice(e.message, true)); }
}

async function rollback(m) {
  const reason = prompt(`Roll ${m.name} back to the previous production model? Give the reason:`);
  if (!reason) return;
  try {
    const r = await api(`/v1/admin/models/${encodeURIComponent(m.name)}/rollback`, {method: "POST", body: {reason}});
    await modelsPage();
    main.prepend(notice(`restored ${r.restored.version}, retired ${r.retired.version}.`));
  } catch (e) { main.prepend(notice(e.message, true)); }
}

// --- Evaluation reports --------------------------------------------------------------------------------------------------
async function reportsPage() {
  const {reports} = await api("/v1/admin/reports");
  main.replaceChildren(el("h1", {}, "Evaluation reports"));
  if (!reports.length) { main.append(card(empty("No evaluation report in the reports bucket yet (jobs/evaluate writes them)."))); return; }
  const groups = {};
  for (const r of reports) (groups[`${r.dataset} · ${r.split}`] = groups[`${r.dataset} · ${r.split}`] || []).push(r);
  const detail = el("div", {id: "report-detail"});
  for (const [key, rows] of Object.entries(groups)) {
    main.append(card(el("h2", {}, key), el("table", {},
      el("tr", {}, ["run", "created", "eval set", "models", ""].map((h) => el("th", {}, h))),
      rows.map((r) => el("tr", {}, el("td", {}, r.run_id), el("td", {}, when(r.created_at)), el("td", {}, r.eval_set || "–"),
                        el("td", {}, r.models.join(", ")),
                        el("td", {}, el("button", {class: "act", onclick: () => showReport(r.run_id, detail)}, "Open")))))));
  }
  main.append(detail);
  await showReport(reports[0].run_id, detail);
}

async function showReport(runId, target) {
  const r = await api(`/v1/admin/reports/${encodeURIComponent(runId)}`);
  const names = r.metric_names || [];
  const models = r.models || [];
  // one row per metric, one column per model (a report has many metrics and few models: this stays on screen)
  const table = el("table", {class: "report"},
    el("tr", {}, el("th", {}, "metric"), models.map((m) => el("th", {class: "num"}, m.label || m.model,
      el("div", {class: "muted"}, m.status || "baseline")))),
    names.map((n) => el("tr", {}, el("td", {}, n), models.map((m) => {
      const c = (m.metrics || {})[n];
      return el("td", {class: "num"}, c ? `${fmt(c.mean)} [${fmt(c.low)}, ${fmt(c.high)}]` : "–");
    }))));
  const series = (r.models || []).map((m) => ({label: m.label || m.model, cis: m.metrics || {}}));
  const comps = (r.comparisons || []).map((c) => el("li", {}, `${c.model} vs ${c.reference} on ${c.metric}: `
    + `${fmt(c.mean_a)} vs ${fmt(c.mean_b)}, paired difference ${fmt(c.diff)} [${fmt(c.diff_low)}, ${fmt(c.diff_high)}] over ${c.n} users`
    + (c.significant ? " (the interval excludes 0)" : " (not significant: the interval includes 0)")));
  target.replaceChildren(card(el("h2", {}, `Report ${r.run_id}`),
    el("p", {class: "muted"}, `${r.data && r.data.dataset} · split ${r.data && r.data.split} · ${r.n_users} users · protocol ${r.protocol} · seed ${r.seed}`),
    table, names.length && series.length ? ciChart(names, series) : empty("This report has no metrics."),
    comps.length ? el("div", {}, el("h2", {}, "Paired comparisons"), el("ul", {}, comps)) : null,
    (r.warnings || []).length ? el("div", {}, el("h2", {}, "Warnings"), el("ul", {}, r.warnings.map((w) => el("li", {}, w)))) : null));
}

// --- Catalogue -------------------------------------------------------------------------------------------------------------
async function cataloguePage() {
  const data = await api("/v1/admin/catalogue");
  main.replaceChildren(el("h1", {}, "Catalogue"));
  const form = el("form", {class: "inline", id: "seed-form"},
    el("label", {for: "seed-city"}, "City"), el("input", {id: "seed-city", placeholder: "seattle", required: true}),
    el("label", {for: "seed-limit"}, "Venue limit"), el("input", {id: "seed-limit", type: "number", min: 1, placeholder: "all"}),
    el("button", {class: "act", type: "submit"}, "Start a seeding run"));
  const status = el("div", {id: "seed-status"});
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {city: document.getElementById("seed-city").value.trim()};
    const limit = document.getElementById("seed-limit").value;
    if (limit) body.limit = Number(limit);
    try {
      const run = await api("/v1/admin/seed-city", {method: "POST", body});
      status.replaceChildren(notice(`run ${run.run_id} queued for ${run.city_id}; reload to follow it below.`));
    } catch (e) { status.replaceChildren(notice(e.message, true)); }
  });
  main.append(card(el("h2", {}, "Start a seeding run"), form, status));
  if (!data.cities.length) main.append(card(empty("No city is seeded yet.")));
  else {
    main.append(card(el("h2", {}, "Seeded cities"), el("table", {},
      el("tr", {}, ["city", "seeded", "venues", "located", "hours parsed", "unparsed", "missing", "overrated"].map((h, i) => el("th", {class: i > 1 ? "num" : ""}, h))),
      data.cities.map((c) => el("tr", {"data-city": c.id}, el("td", {}, `${c.name} (${c.id})`), el("td", {}, when(c.seeded_at)),
        el("td", {class: "num"}, c.venues), el("td", {class: "num"}, c.located),
        el("td", {class: "num"}, c.venues ? `${c.hours.parsed} (${Math.round(100 * c.hours.parsed / c.venues)}%)` : "–"),
        el("td", {class: "num"}, c.hours.unparsed), el("td", {class: "num"}, c.hours.missing), el("td", {class: "num"}, c.overrated))))));
    for (const c of data.cities) {
      main.append(card(el("h2", {}, `${c.name}: vibe tags and overrated flags`), el("div", {class: "grid"},
        c.top_tags.length ? chart({type: "bar", data: {labels: c.top_tags.map((t) => t.tag),
          datasets: [{label: "venues with the tag", data: c.top_tags.map((t) => t.venues), backgroundColor: "#2457c5"}]},
          options: {indexAxis: "y", plugins: {legend: {display: false}}}}) : empty("No vibe tags on these venues."),
        c.most_overrated.length ? el("table", {}, el("tr", {}, el("th", {}, "most overrated"), el("th", {class: "num"}, "score")),
          c.most_overrated.map((o) => el("tr", {}, el("td", {}, o.name), el("td", {class: "num"}, fmt(o.score))))) : empty("No venue is flagged overrated."))));
    }
  }
  main.append(card(el("h2", {}, "Last seeding runs"), data.runs.length ? el("table", {},
    el("tr", {}, ["run", "city", "status", "sources", "started", "finished", "summary / error"].map((h) => el("th", {}, h))),
    data.runs.map((r) => el("tr", {"data-run": r.run_id, "data-status": r.status}, el("td", {}, r.run_id), el("td", {}, r.city_id), el("td", {}, badge(r.status)),
      el("td", {}, r.sources.join(", ")), el("td", {}, when(r.created_at)), el("td", {}, when(r.finished_at)),
      el("td", {}, r.error ? r.error : r.summary ? el("pre", {class: "kv"}, summaryText(r.summary)) : `${(r.progress || {}).stage || ""}`))))
    : empty("No seeding run has been requested through the admin API yet.")));
}

function summaryText(s) {
  return Object.entries(s).filter(([, v]) => typeof v !== "object" || v === null).map(([k, v]) => `${k}: ${fmt(v)}`).join("\n");
}

// --- Signals ---------------------------------------------------------------------------------------------------------------
async function signalsPage() {
  const [data, dl] = await Promise.all([api("/v1/admin/signals?minutes=60&days=14"),
                                        api("/v1/admin/dead-letters").catch((e) => ({error: e.message}))]);
  main.replaceChildren(el("h1", {}, "Signals"));
  const flow = data.flow;
  // every minute of the window on the axis, the quiet ones as zero: the chart shows time, not only busy minutes
  const counted = {};
  for (const r of flow.per_minute) counted[`${r.minute.slice(0, 16)} ${r.signal_type}`] = r.count;
  const end = flow.per_minute.length ? Date.parse(flow.per_minute[flow.per_minute.length - 1].minute) : 0;
  const newest = Math.max(Math.floor(Date.now() / 60000) * 60000, end);
  const minutes = flow.per_minute.length ? Array.from({length: flow.window_minutes},
    (_, i) => new Date(newest - (flow.window_minutes - 1 - i) * 60000).toISOString()) : [];
  const types = [...new Set(flow.per_minute.map((r) => r.signal_type))];
  const lag = flow.sink_lag_s;
  main.append(el("section", {class: "card", id: "signal-flow"}, el("h2", {}, `Signals stored per minute by type (last ${flow.window_minutes} minutes)`),
    minutes.length ? chart({type: "bar", data: {labels: minutes.map((m) => m.slice(11, 16)),
      datasets: types.map((t, i) => ({label: t, backgroundColor: PALETTE[i % PALETTE.length],
        data: minutes.map((m) => counted[`${m.slice(0, 16)} ${t}`] || 0)}))},
      options: {scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true, title: {display: true, text: "signals / minute"}}}}})
      : empty(`No signal was stored in the last ${flow.window_minutes} minutes (last one: ${when(flow.last_stored_at)}).`),
    el("h2", {}, "Sink lag (accepted → stored)"),
    lag.signals ? el("p", {id: "sink-lag"}, `${lag.signals} signals: p50 ${fmt(lag.p50)} s, p95 ${fmt(lag.p95)} s, max ${fmt(lag.max)} s`)
      : empty("No signal in the window: no lag to measure.")));

  const dlCard = card(el("h2", {}, "Dead letters (signals-dead-letter-hold)"));
  if (dl.error) dlCard.append(notice(dl.error, true));
  else if (!dl.dead_letters.length) dlCard.append(empty("The dead-letter hold is empty."));
  else dlCard.append(el("table", {id: "dead-letters"},
    el("tr", {}, ["message", "published", "from", "attempts", "reason", "data", ""].map((h) => el("th", {}, h))),
    dl.dead_letters.map((m) => el("tr", {"data-message": m.message_id}, el("td", {}, m.message_id), el("td", {}, when(m.published)),
      el("td", {}, m.source_subscription || "–"), el("td", {}, m.attempts || "–"), el("td", {}, `${m.reason} ${m.error || ""}`),
      el("td", {}, el("pre", {class: "kv"}, m.data)),
      el("td", {}, el("button", {class: "act", "data-action": "replay", onclick: () => replay(m)}, "Replay"))))));
  main.append(dlCard);

  const cost = data.llm_cost;
  main.append(el("section", {class: "card", id: "llm-cost"}, el("h2", {}, "LLM cost per day against the 2× alert line"),
    cost.has_usage ? chart({type: "bar", data: {labels: cost.days.map((d) => d.day.slice(5)), datasets: [
      {type: "bar", label: "cost (USD); red: above the line", data: cost.days.map((d) => d.cost_usd), order: 1,
       backgroundColor: cost.days.map((d) => d.alert_line_usd !== null && d.cost_usd > d.alert_line_usd ? "#b3261e" : "#2457c5")},
      {type: "line", order: 0, label: `alert line: ${cost.spike_factor}× the ${cost.window_days}-day average`, data: cost.days.map((d) => d.alert_line_usd),
       borderColor: "#b3261e", borderDash: [6, 4], pointRadius: 0, spanGaps: false}]},
      options: {scales: {y: {beginAtZero: true, title: {display: true, text: "USD"}}}}})
      : empty(`No LLM usage recorded in the last ${cost.days.length} days (the offline ranker and narrator serve without ANTHROPIC_API_KEY).`)));
}

async function replay(m) {
  if (!confirm(`Replay dead letter ${m.message_id} to its source topic? Fix the cause first, or a poison message dead-letters again.`)) return;
  try {
    const r = await api("/v1/admin/dead-letters/replay", {method: "POST", body: {message_ids: [m.message_id]}});
    await signalsPage();
    main.prepend(notice(r.replayed.length ? `replayed dead letter ${r.replayed.join(", ")} to its source topic` :
      `not replayed: ${(r.failed[0] || {}).reason || "no longer on the hold"}`, !r.replayed.length));
  } catch (e) { main.prepend(notice(e.message, true)); }
}

// --- Trips -----------------------------------------------------------------------------------------------------------------
async function tripsPage() {
  const params = new URLSearchParams(location.search);
  const form = el("form", {class: "inline", id: "trip-form"}, el("label", {for: "trip-id"}, "Trip id"),
    el("input", {id: "trip-id", value: params.get("trip") || "", size: 30, required: true}), el("button", {class: "act", type: "submit"}, "Open"));
  const out = el("div", {id: "trip"});
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const id = document.getElementById("trip-id").value.trim();
    history.replaceState(null, "", `/console/trips?trip=${encodeURIComponent(id)}`);
    showTrip(id, out);
  });
  main.replaceChildren(el("h1", {}, "Trips"), card(form, el("p", {class: "muted"},
    TILE_URL ? "Map tiles from the configured tile server." : "Map tiles are off (set CONSOLE_TILE_URL to a tile server): the route is drawn on a blank map.")), out);
  if (params.get("trip")) await showTrip(params.get("trip"), out);
  else out.append(card(empty("Enter a trip id to see it day by day.")));
}

async function showTrip(id, out) {
  let trip;
  try { trip = await api(`/v1/admin/trips/${encodeURIComponent(id)}`); }
  catch (e) { out.replaceChildren(notice(e.message, true)); return; }
  out.replaceChildren(card(el("h2", {}, `${trip.city.name || trip.city.id}, ${trip.start_date} → ${trip.end_date}`),
    el("p", {}, `trip ${trip.trip_id} · user ${trip.user_id || "group"} · status ${trip.status} · served by ${trip.served_by} · ranker ${trip.ranker || "–"} · model ${trip.model_version || "–"}`
      + ` · ${trip.located_slots} located slot(s)`),
    trip.empty_reason ? notice(trip.empty_reason, true) : null));
  for (const day of trip.days) {
    const mapBox = el("div", {class: "map", "data-day": day.day});
    const located = day.slots.map((s, i) => ({...s, n: i + 1})).filter((s) => s.located);  // n: its number in the list
    out.append(card(el("h2", {}, `Day ${day.day}: ${day.weekday} ${day.date}`),
      el("div", {class: "grid"}, located.length ? mapBox : empty("No slot of this day has coordinates: nothing to map."),
        day.slots.length ? el("ol", {class: "slots"}, day.slots.map((s) => el("li", {},
          el("strong", {}, `${s.arrive || s.day_part} ${s.venue.name || "?"}`), ` (${s.kind || s.day_part})`,
          el("div", {}, s.narrative || el("span", {class: "muted"}, "no narrative")),
          el("div", {class: "muted"}, `ranker ${trip.ranker || "–"} · model version ${s.model_version || "–"}${s.located ? "" : " · no coordinates"}`))))
          : empty("No slot on this day."))));
    if (located.length) requestAnimationFrame(() => drawDay(mapBox, located));
  }
}

function drawDay(box, slots) {
  const map = L.map(box, {attributionControl: !!TILE_URL});
  if (TILE_URL) L.tileLayer(TILE_URL, {maxZoom: 19}).addTo(map);
  const points = slots.map((s) => [s.venue.lat, s.venue.lon]);
  L.polyline(points, {color: "#2457c5", weight: 3, dashArray: "6 6", className: "walk-route"}).addTo(map);
  slots.forEach((s) => {
    L.circleMarker([s.venue.lat, s.venue.lon], {radius: 9, color: "#fff", weight: 2, fillColor: "#d9822b",
      fillOpacity: 1, className: "slot-marker"}).bindTooltip(`${s.n}. ${s.venue.name}`, {direction: "top"}).addTo(map);
    // the slot's number on its marker, matching the list beside the map
    L.marker([s.venue.lat, s.venue.lon], {interactive: false, keyboard: false,
      icon: L.divIcon({className: "slot-number", html: String(s.n), iconSize: [18, 18]})}).addTo(map);
  });
  map.fitBounds(L.latLngBounds(points).pad(0.25), {maxZoom: 16});
}

// --- Alerts ----------------------------------------------------------------------------------------------------------------
async function alertsPage() {
  const {rules} = await api("/v1/admin/alerts");
  main.replaceChildren(el("h1", {}, "Alerts"), card(el("p", {class: "muted"}, "Every declared rule, evaluated now against the stores."),
    rules.length ? el("table", {id: "alerts"}, el("tr", {}, ["state", "rule", "now", "inputs", "declared in"].map((h) => el("th", {}, h))),
      rules.map((r) => el("tr", {"data-rule": r.name}, el("td", {}, badge(r.state)), el("td", {}, el("strong", {}, r.title), el("div", {class: "muted"}, r.name)),
        el("td", {}, r.summary), el("td", {}, el("pre", {class: "kv"}, Object.entries(r.inputs).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : fmt(v)}`).join("\n"))),
        el("td", {}, r.declared_in)))) : empty("No alert rule is registered.")));
}

const PAGES = {models: modelsPage, reports: reportsPage, catalogue: cataloguePage, signals: signalsPage, trips: tripsPage, alerts: alertsPage};

document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", a.dataset.nav === PAGE));
document.getElementById("signout").addEventListener("click", async () => {
  await api("/v1/admin/console/session", {method: "DELETE"}).catch(() => {});
  location.href = "/console";
});
PAGES[PAGE]().then(() => main.setAttribute("data-ready", "true"))
  .catch((e) => { main.replaceChildren(notice(`could not load this page: ${e.message}`, true)); main.setAttribute("data-ready", "error"); });
