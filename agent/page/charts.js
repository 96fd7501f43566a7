// The status page's pictures, drawn as inline SVG from the agent's own data (no library):
// a VIP's packet rates, its new-flow table share per AS, its pools' shares of new flows (spill, a
// fail-back ramp), and the backends' transitions in time.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const RATE_SIZE = { width: 260, height: 64, left: 4, right: 4, top: 14, bottom: 12 };
const SHARE_SIZE = { width: 260, bar: 16, planned: 5, gap: 3 };
const POOL_SIZE = { width: 160, bar: 10 };
const LANE = { height: 14, gap: 4, label: 70, width: 640, axis: 14 };
const PALETTE = ["#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#00897b", "#e53935", "#6d4c41", "#3949ab",
                 "#c0ca33", "#d81b60"];
const STATE_COLORS = { up: "#2e7d32", down: "#c62828", unknown: "#757575", paused: "#ef6c00", disabled: "#5d4037" };

function svgEl(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  for (const child of children) node.append(child);
  return node;
}

function titled(node, text) {
  node.append(svgEl("title", {}, text));
  return node;
}

function rateText(value) {
  if (value >= 1e6) return (value / 1e6).toFixed(1) + "M";
  if (value >= 1e3) return (value / 1e3).toFixed(1) + "k";
  return value >= 10 || value === 0 ? String(Math.round(value)) : value.toFixed(1);
}

function spanText(seconds) {
  return seconds >= 120 ? Math.round(seconds / 60) + "m" : Math.round(seconds) + "s";
}

// series: {kind: [rate or null, ...]} aligned to times (unix seconds, ends of the intervals).
function rateChart(kinds, times, series) {
  const s = RATE_SIZE;
  const plotW = s.width - s.left - s.right;
  const plotH = s.height - s.top - s.bottom;
  const values = kinds.flatMap((kind) => (series[kind] || []).filter((v) => v !== null));
  const peak = values.length ? Math.max(...values) : 0;
  const top = peak > 0 ? peak : 1;
  const first = times.length ? times[0] : 0;
  const span = times.length > 1 ? times[times.length - 1] - first : 0;
  const svg = svgEl("svg", { class: "rates", width: s.width, height: s.height, "data-peak": peak,
                              viewBox: "0 0 " + s.width + " " + s.height });
  svg.append(svgEl("rect", { class: "plot", x: s.left, y: s.top, width: plotW, height: plotH }));
  kinds.forEach((kind, k) => {
    const points = [];
    const line = series[kind] || [];
    line.forEach((value, i) => {
      if (value === null) return;
      const x = s.left + (span > 0 ? (times[i] - first) / span : 1) * plotW;
      const y = s.top + plotH - (value / top) * plotH;
      points.push(x.toFixed(1) + "," + y.toFixed(1));
    });
    const last = line.length ? line[line.length - 1] : null;
    const known = line.filter((v) => v !== null);
    svg.append(titled(svgEl("polyline", { class: "series " + kind, "data-kind": kind, "data-points": points.length,
                                          "data-last": last === null ? "" : last,
                                          "data-peak": known.length ? Math.max(...known) : "",
                                          points: points.join(" ") }),
                      kind + " packets/s, now " + (last === null ? "-" : rateText(last))));
    svg.append(svgEl("text", { class: "legend " + kind, x: s.left + k * 80, y: 10 },
                     kind + " " + (last === null ? "-" : rateText(last)) + "/s"));
  });
  svg.append(svgEl("text", { class: "axis", x: s.width - s.right, y: s.top + 9, "text-anchor": "end" },
                   "peak " + rateText(peak) + "/s"));
  svg.append(svgEl("text", { class: "axis", x: s.left, y: s.height - 1 }, "-" + spanText(span)));
  svg.append(svgEl("text", { class: "axis", x: s.width - s.right, y: s.height - 1, "text-anchor": "end" }, "now"));
  return svg;
}

function shareRow(svg, bars, y, height, kind, colors, length) {
  let x = 0;
  for (const owner of bars.owners) {
    const width = (owner.buckets / length) * SHARE_SIZE.width;
    const percent = (100 * owner.buckets / length).toFixed(1);
    svg.append(titled(svgEl("rect", { class: kind, x: x.toFixed(2), y, width: width.toFixed(2), height,
                                      fill: colors[owner.backend] || "#90a4ae", "data-backend": owner.backend,
                                      "data-buckets": owner.buckets }),
                      owner.backend + ": " + owner.buckets + " of " + length + " buckets (" + percent + "%)"));
    x += width;
  }
  if (bars.drop > 0) {
    svg.append(titled(svgEl("rect", { class: kind + " drop", x: x.toFixed(2), y, height,
                                      width: ((bars.drop / length) * SHARE_SIZE.width).toFixed(2),
                                      "data-backend": "", "data-buckets": bars.drop }),
                      "no AS: " + bars.drop + " of " + length + " buckets drop new flows"));
  }
}

// share: page_views.table_share; members: the frontend's members in pool order (their colors).
function shareBar(share, members) {
  const colors = {};
  members.forEach((m, i) => { colors[m.backend] = PALETTE[i % PALETTE.length]; });
  const s = SHARE_SIZE;
  const height = s.bar + (share.planned ? s.gap + s.planned : 0);
  const svg = svgEl("svg", { class: "share", width: s.width, height, viewBox: "0 0 " + s.width + " " + height });
  if (share.current) {
    shareRow(svg, share.current, 0, s.bar, "segment", colors, share.table_length);
  } else {
    svg.append(svgEl("rect", { class: "segment unknown-share", x: 0, y: 0, width: s.width, height: s.bar }));
  }
  if (share.planned) shareRow(svg, share.planned, s.bar + s.gap, s.planned, "planned-segment", colors,
                              share.table_length);
  const legend = members.map((m) => {
    const owned = share.current ? share.current.owners.find((o) => o.backend === m.backend) : null;
    const planned = share.planned ? share.planned.owners.find((o) => o.backend === m.backend) : null;
    let text = m.backend + " " + (owned ? (100 * owned.buckets / share.table_length).toFixed(1) + "%" : "0%");
    if (share.planned) text += " → " + (planned ? (100 * planned.buckets / share.table_length).toFixed(1) : "0") + "%";
    if (share.draining.includes(m.backend)) text += " (draining)";
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colors[m.backend];
    const item = document.createElement("span");
    item.className = "share-item";
    item.append(swatch, text);
    return item;
  });
  const box = document.createElement("div");
  box.className = "share-box";
  const caption = document.createElement("div");
  caption.className = "caption";
  caption.textContent = "new-flow table, " + share.table_length + " buckets" +
    (share.current ? "" : " (not in VPP)") + (share.planned ? "; thin bar: once slow start is over" : "");
  box.append(caption, svg, document.createElement("br"), ...legend);
  return box;
}

// backends: {name: {state, transitions: [{from, to, at, code}]}}; now, startedAt (the agent's
// start: nothing is known before it): unix seconds.
function timeline(backends, now, startedAt) {
  const names = Object.keys(backends).sort();
  const all = names.flatMap((n) => backends[n].transitions.map((t) => t.at));
  let start = all.length ? Math.min(...all) : now - 300;
  start = Math.max(start, now - 3600);
  if (now - start < 60) start = now - 60;
  const span = now - start;
  const plotW = LANE.width - LANE.label;
  const xOf = (t) => LANE.label + Math.max(0, Math.min(1, (t - start) / span)) * plotW;
  const height = names.length * (LANE.height + LANE.gap) + LANE.axis;
  const svg = svgEl("svg", { class: "timeline", width: LANE.width, height, viewBox: "0 0 " + LANE.width + " " + height });
  names.forEach((name, row) => {
    const y = row * (LANE.height + LANE.gap);
    const lane = svgEl("g", { class: "lane", "data-backend": name });
    lane.append(svgEl("text", { class: "axis", x: 0, y: y + LANE.height - 3 }, name));
    const history = backends[name].transitions;
    let from = Math.max(start, startedAt);
    let state = history.length ? history[0].from : backends[name].state;
    for (const t of [...history, null]) {
      const until = t ? t.at : now;
      if (until > from) {
        lane.append(titled(svgEl("rect", { class: "period", x: xOf(from).toFixed(2), y, height: LANE.height,
                                           width: Math.max(0, xOf(until) - xOf(from)).toFixed(2),
                                           fill: STATE_COLORS[state] || "#90a4ae", "data-state": state }), state));
      }
      if (t) { from = Math.max(from, t.at); state = t.to; }
    }
    for (const t of history) {
      if (t.at < start) continue;
      lane.append(titled(svgEl("circle", { class: "transition", cx: xOf(t.at).toFixed(2), cy: y + LANE.height / 2,
                                           r: 4, fill: STATE_COLORS[t.to] || "#90a4ae", "data-to": t.to }),
                         name + ": " + t.from + " -> " + t.to + " (" + t.code + ") at " +
                         new Date(t.at * 1000).toISOString().slice(11, 19)));
    }
    svg.append(lane);
  });
  const axisY = height - 2;
  svg.append(svgEl("text", { class: "axis", x: LANE.label, y: axisY }, "-" + spanText(span)));
  svg.append(svgEl("text", { class: "axis", x: LANE.width, y: axisY, "text-anchor": "end" }, "now"));
  return svg;
}

// fe: a /state.json frontend with pool_split set. Per pool a row: its share of new flows as a bar
// placed after the pools before it, and, lighter, what it spills on to the pools after it (so the
// next pool's bar starts under the spill). The numbers are the agent's (weights.pool_shares).
// unweighted: LB API 1.1.0, where VPP gives every AS an equal share whatever the plan.
function poolSplit(fe, unweighted) {
  const s = POOL_SIZE;
  const percent = (value) => (value === null || value === undefined ? "-" : Math.round(value * 1000) / 10 + "%");
  const box = document.createElement("div");
  box.className = "pool-split";
  const caption = document.createElement("div");
  caption.className = "caption";
  caption.textContent = "new flows per pool" +
    (fe.spill ? " (spill, overprovisioning " + fe.spill.overprovisioning + ")" : " (fail-back ramp)") +
    (unweighted ? "; planned (LB API 1.1.0: an equal share per AS, see the table bar)" : "");
  box.append(caption);
  let offset = 0;
  for (const pool of fe.pools) {
    const share = pool.share || 0;
    const spilled = pool.spilled || 0;
    const svg = svgEl("svg", { class: "pool-bar", width: s.width, height: s.bar, viewBox: "0 0 " + s.width + " " + s.bar });
    svg.append(svgEl("rect", { class: "pool-track", x: 0, y: 0, width: s.width, height: s.bar }));
    svg.append(titled(svgEl("rect", { class: "pool-spilled", x: ((offset + share) * s.width).toFixed(2), y: 0,
                                      width: (spilled * s.width).toFixed(2), height: s.bar }),
                      pool.name + " spills " + percent(spilled) + " of new flows on"));
    svg.append(titled(svgEl("rect", { class: "pool-share", x: (offset * s.width).toFixed(2), y: 0,
                                      width: (share * s.width).toFixed(2), height: s.bar }),
                      pool.name + ": " + percent(share) + " of new flows"));
    let text = percent(share) + " (healthy " + percent(pool.healthy_fraction);
    if (pool.health !== null && pool.health !== undefined) text += ", health " + percent(pool.health);
    text += ")" + (spilled > 0 ? ", spills " + percent(spilled) : "");
    const row = document.createElement("div");
    row.className = "pool-row";
    row.dataset.pool = pool.name;
    row.dataset.share = share;
    row.dataset.spilled = spilled;
    const name = document.createElement("span");
    name.className = "pool-name";
    name.textContent = pool.name;
    const label = document.createElement("span");
    label.className = "pool-text";
    label.textContent = text;
    row.append(name, svg, label);
    box.append(row);
    offset += share;
  }
  return box;
}
