// The status page: renders /state.json and /rates.json; every server-sent event on /events
// updates it. The pictures are drawn by charts.js.
"use strict";

const MAX_EVENTS = 100;
let view = null;
let rates = null;  // /rates.json, extended by every "rates" event
let refreshing = false;
let refreshAgain = false;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child === null || child === undefined ? "" : child);
  return node;
}

function badge(state) {
  return el("span", { class: "state " + state }, state);
}

function age(since) {
  if (!since || !view) return "";
  const seconds = Math.max(0, Math.round(Date.now() / 1000 - since + (view.now - view.fetchedAt)));
  if (seconds < 120) return seconds + "s";
  if (seconds < 7200) return Math.round(seconds / 60) + "m";
  if (seconds < 172800) return Math.round(seconds / 3600) + "h";
  return Math.round(seconds / 86400) + "d";
}

function num(value) {
  return el("td", { class: "num" }, value === null || value === undefined ? "-" : String(value));
}

function renderFrontends() {
  const box = document.getElementById("frontends");
  box.replaceChildren(...view.frontends.map((fe) => {
    const card = el("div", { class: "frontend", "data-frontend": fe.name },
      el("h3", {}, fe.name + " ", badge(fe.state), " ", fe.vip,
         fe.released ? "" : " (warm-up: not written yet)"));
    if (fe.description) card.append(el("div", {}, fe.description));
    const pictures = el("div", { class: "pictures" }, el("div", { class: "rate-box", "data-vip": fe.vip }));
    const members = fe.pools.flatMap((pool) => pool.members);
    if (fe.share) pictures.append(shareBar(fe.share, members));
    if (fe.pool_split) pictures.append(poolSplit(fe, view.vpp.connected && view.vpp.lb_api_version === "1.1.0"));
    card.append(pictures);
    for (const pool of fe.pools) {
      card.append(el("div", { class: "pool" }, "pool " + pool.name + (pool.name === fe.active_pool ? " (active)" : "")));
      const table = el("table", {}, el("tr", {}, ...["backend", "address", "state", "configured", "effective",
        "buckets", "since"].map((h) => el("th", {}, h))));
      for (const m of pool.members) {
        let effective = String(m.effective_weight);
        if (m.override !== null) effective += " (override " + m.override + ")";
        if (m.ramp !== null) effective += " (slow start " + Math.round(m.ramp * 100) + "%" +
          (m.planned_weight !== null ? " of " + m.planned_weight : "") + ")";
        if (m.draining) effective += " (draining)";
        table.append(el("tr", { "data-backend": m.backend },
          el("td", {}, m.backend), el("td", {}, m.address), el("td", { class: "state-cell" }, badge(m.state)),
          num(m.configured_weight), el("td", { class: "num effective" }, effective), num(m.buckets),
          el("td", { class: "age", "data-since": m.since || "" }, age(m.since))));
      }
      card.append(table);
    }
    return card;
  }));
  renderRates();
}

function renderRates() {
  for (const box of document.querySelectorAll(".rate-box")) {
    const series = rates && rates.vips[box.dataset.vip];
    box.replaceChildren(series ? rateChart(rates.kinds, rates.times, series) : "packet rates: no samples yet");
  }
}

function addRates(event) {
  if (!rates) return;
  rates.times.push(event.at);
  for (const vip of Object.keys(event.vips)) {
    if (!rates.vips[vip]) {
      rates.vips[vip] = Object.fromEntries(rates.kinds.map((kind) => [kind, rates.times.slice(1).map(() => null)]));
    }
  }
  for (const [vip, series] of Object.entries(rates.vips)) {
    const newest = event.vips[vip];
    rates.kinds.forEach((kind, i) => series[kind].push(newest ? newest[i] : null));
  }
  const excess = rates.times.length - rates.points;
  if (excess > 0) {
    rates.times.splice(0, excess);
    for (const series of Object.values(rates.vips)) for (const kind of rates.kinds) series[kind].splice(0, excess);
  }
  renderRates();
}

async function loadRates() {
  try {
    const reply = await fetch("/rates.json", { cache: "no-store" });
    if (reply.ok) {
      rates = await reply.json();
      renderRates();
    }
  } catch (err) {
    console.log("rates.json: " + err);
  }
}

function agentNow() {
  return view.now + (Date.now() / 1000 - view.fetchedAt);
}

function renderBackends() {
  const body = document.querySelector("#backends tbody");
  const names = Object.keys(view.backends).sort();
  body.replaceChildren(...names.map((name) => {
    const b = view.backends[name];
    const last = b.last_result;
    const probe = last ? (last.ok ? "ok " : "failed ") + last.code + (last.detail ? ": " + last.detail : "") : "-";
    const health = b.rise ? b.counter + " (rise " + b.rise + ", fall " + b.fall + ")" : "-";
    return el("tr", { "data-backend": name },
      el("td", {}, name), el("td", {}, b.address), el("td", { class: "state-cell" }, badge(b.state)),
      el("td", {}, health), el("td", {}, probe), el("td", { class: "age", "data-since": b.since }, age(b.since)));
  }));
  document.getElementById("timeline").replaceChildren(timeline(view.backends, agentNow(), view.started_at));
}

function renderHeader() {
  document.getElementById("version").textContent = view.version;
  const vpp = document.getElementById("vpp");
  if (view.vpp.connected) {
    vpp.textContent = "VPP " + view.vpp.version + " pid " + view.vpp.pid + ", LB API " + view.vpp.lb_api_version +
      ", up " + age(view.vpp.boottime) + ", connected " + age(view.vpp.connected_since);
    vpp.className = "badge up";
  } else {
    vpp.textContent = "VPP: not connected (" + view.vpp.api_socket + ")";
    vpp.className = "badge down";
  }
  const warmup = document.getElementById("warmup");
  warmup.textContent = view.warmup === "done" ? "" : "warm-up: " + view.warmup;
  warmup.hidden = view.warmup === "done";
}

function render() {
  renderHeader();
  renderFrontends();
  renderBackends();
}

async function refresh() {
  if (refreshing) { refreshAgain = true; return; }
  refreshing = true;
  try {
    do {
      refreshAgain = false;
      const reply = await fetch("/state.json", { cache: "no-store" });
      if (reply.ok) {
        view = await reply.json();
        view.fetchedAt = Date.now() / 1000;
        render();
      }
    } while (refreshAgain);
  } catch (err) {
    console.log("state.json: " + err);
  } finally {
    refreshing = false;
  }
}

function describe(event) {
  if (event.type === "backend") return "backend " + event.backend + ": " + event.from + " -> " + event.to +
    (event.code ? " (" + event.code + ")" : "");
  if (event.type === "frontend") return "frontend " + event.frontend + ": " + event.from + " -> " + event.to;
  const fields = Object.entries(event).filter(([k]) => !["type", "time", "level", "event"].includes(k))
    .map(([k, v]) => k + "=" + (typeof v === "object" ? JSON.stringify(v) : v));
  return event.level + " " + event.event + " " + fields.join(" ");
}

function logEvent(event) {
  const list = document.getElementById("events");
  const when = event.time || new Date((event.at || Date.now() / 1000) * 1000).toISOString();
  list.prepend(el("li", { class: "event " + event.type }, when.slice(11, 23) + " " + describe(event)));
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
}

function applyTransition(event) {
  // Show the new state at once; the refresh that follows brings weights and everything else.
  if (!view || event.type !== "backend") return;
  for (const cell of document.querySelectorAll('tr[data-backend="' + CSS.escape(event.backend) + '"] .state-cell')) {
    cell.replaceChildren(badge(event.to));
  }
}

function connect() {
  const stream = new EventSource("/events");
  const status = document.getElementById("stream");
  stream.onopen = () => {
    status.textContent = "events: live";
    status.className = "badge up";
    refresh();  // what happened while the stream was not open
    loadRates();
  };
  stream.onerror = () => {
    status.textContent = "events: reconnecting";
    status.className = "badge down";
  };
  stream.addEventListener("rates", (message) => addRates(JSON.parse(message.data)));
  for (const type of ["backend", "frontend", "log"]) {
    stream.addEventListener(type, (message) => {
      const event = JSON.parse(message.data);
      logEvent(event);
      applyTransition(event);
      refresh();
    });
  }
}

setInterval(() => {
  if (view) renderHeader();
  for (const cell of document.querySelectorAll("td.age")) cell.textContent = age(Number(cell.dataset.since));
}, 1000);
refresh();
connect();
