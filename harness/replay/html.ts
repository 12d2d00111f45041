/**
 * The replay report as one self-contained HTML page (`replay … --report out.html`): inline SVG
 * drawn here from the raw run, inline CSS, a few lines of inline JS; nothing fetched.
 *
 *  - the scenario: name, description, window and compression, expectations with a verdict per target;
 *  - the scenario timeline: load phases and the fault timeline per provider (as scheduled);
 *  - per provider: chat requests per slice by the mock's status, cooldowns / ejections / failovers
 *    away from it and its health state (from the filter's log lines; the baseline logs none);
 *  - client-visible statuses per slice;
 *  - per provider: tokens admitted per rate-limit window against the provider's limit;
 *  - with several targets (`--target both`) each chart of the baseline beside ai-failover's;
 *  - the text report.
 *
 * Every chart is an `<svg data-chart="…">` whose data-carrying elements have class `mark`
 * (`data-marks` = how many the generator drew). In a browser the inline script sets `data-drawn` =
 * how many of them have a non-empty rendered box. `chartMarks` reads either back from the HTML
 * (or from a browser's dumped DOM) and `emptyCharts` names the charts without marks.
 */
import { analyze, formatReport, formatSlices, verdict, type Report } from "./report.ts";
import { ROOT, type RunResult } from "./runner.ts";
import type { TimelineEntry } from "./scenario.ts";

export interface ReportRun {
  res: RunResult;
  report?: Report;
}

// ---- small SVG toolkit ---------------------------------------------------------------------------

const esc = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const f1 = (x: number) => (Math.round(x * 10) / 10).toString();

/** Status classes, in stacking order (bottom first), with their colours. */
const STATUS_CLASSES: Array<{ key: string; label: string; color: string; test: (s: number) => boolean }> = [
  { key: "2xx", label: "2xx", color: "#2e9d4f", test: (s) => s >= 200 && s < 300 },
  { key: "429", label: "429", color: "#f08c00", test: (s) => s === 429 },
  { key: "401", label: "401/403", color: "#7b2cbf", test: (s) => s === 401 || s === 403 },
  { key: "4xx", label: "other 4xx", color: "#c9748f", test: (s) => s >= 400 && s < 500 && s !== 429 && s !== 401 && s !== 403 },
  { key: "5xx", label: "5xx", color: "#d62828", test: (s) => s >= 500 },
  { key: "0", label: "no answer / reset", color: "#555555", test: (s) => s < 100 },
  { key: "other", label: "other", color: "#8d99ae", test: () => true },
];
const classOf = (s: number) => STATUS_CLASSES.find((c) => c.test(s))!;

const FAULT_COLOR: Record<string, string> = {
  outage: "#d62828",
  fault: "#f08c00",
  keys: "#7b2cbf",
  latency: "#1d70b8",
};

interface Frame {
  /** Chart width and height (px), plot area margins. */
  w: number;
  h: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
  /** Time axis end (ms since t0). */
  tMax: number;
}

const xOf = (f: Frame, t: number) => f.left + (Math.max(0, Math.min(t, f.tMax)) / f.tMax) * (f.w - f.left - f.right);

function svgOpen(chart: string, f: Frame, title: string, marks: number): string {
  return `<svg data-chart="${esc(chart)}" data-marks="${marks}" xmlns="http://www.w3.org/2000/svg" width="${f.w}" height="${f.h}" viewBox="0 0 ${f.w} ${f.h}" role="img" aria-label="${esc(title)}">`;
}

/** Time axis along the bottom of the plot area, ticks every 1/2/5/10 s. */
function timeAxis(f: Frame, yBase: number): string {
  const span = f.tMax / 1000;
  const step = [1, 2, 5, 10, 20, 30, 60, 120].find((s) => span / s <= 14) ?? 300;
  const out = [`<line x1="${f.left}" y1="${yBase}" x2="${f.w - f.right}" y2="${yBase}" class="axis"/>`];
  for (let s = 0; s * 1000 <= f.tMax; s += step) {
    const x = f1(xOf(f, s * 1000));
    out.push(`<line x1="${x}" y1="${yBase}" x2="${x}" y2="${yBase + 4}" class="axis"/>`);
    out.push(`<text x="${x}" y="${yBase + 15}" class="tick" text-anchor="middle">${s}s</text>`);
  }
  return out.join("");
}

function legendHtml(items: Array<{ label: string; color: string; shape?: "box" | "line" | "tri" }>): string {
  return `<div class="legend">${items
    .map((i) => `<span><i style="background:${i.color}" class="${i.shape ?? "box"}"></i>${esc(i.label)}</span>`)
    .join("")}</div>`;
}

/**
 * Stacked bars per slice: `series[i]` = counts by status class key in slice i. Returns the SVG
 * parts and how many bar segments were drawn.
 */
function stackedBars(f: Frame, sliceMs: number, series: Array<Record<string, number>>, yTop: number, yBase: number, what: string): { svg: string; marks: number } {
  const maxN = Math.max(1, ...series.map((s) => Object.values(s).reduce((a, b) => a + b, 0)));
  const scale = (yBase - yTop) / maxN;
  const out: string[] = [];
  let marks = 0;
  const bw = Math.max(1, xOf(f, sliceMs) - xOf(f, 0) - 1);
  series.forEach((counts, i) => {
    let y = yBase;
    const x = xOf(f, i * sliceMs);
    for (const c of STATUS_CLASSES) {
      const n = counts[c.key] ?? 0;
      if (n === 0) continue;
      const h = n * scale;
      y -= h;
      out.push(
        `<rect class="mark" data-kind="${what}" x="${f1(x)}" y="${f1(y)}" width="${f1(bw)}" height="${f1(Math.max(h, 0.5))}" fill="${c.color}">` +
          `<title>${(i * sliceMs) / 1000}s–${((i + 1) * sliceMs) / 1000}s: ${n} ${what} ${c.label}</title></rect>`,
      );
      marks++;
    }
  });
  // y axis: 0 and max
  out.push(`<line x1="${f.left}" y1="${yTop}" x2="${f.left}" y2="${yBase}" class="axis"/>`);
  out.push(`<text x="${f.left - 4}" y="${yTop + 4}" class="tick" text-anchor="end">${maxN}</text>`);
  out.push(`<text x="${f.left - 4}" y="${yBase}" class="tick" text-anchor="end">0</text>`);
  return { svg: out.join(""), marks };
}

function bucket<T>(items: T[], tOf: (x: T) => number, statusOf: (x: T) => number, sliceMs: number, n: number): Array<Record<string, number>> {
  const out = Array.from({ length: n }, () => ({}) as Record<string, number>);
  for (const it of items) {
    const i = Math.floor(tOf(it) / sliceMs);
    if (i < 0 || i >= n) continue;
    const k = classOf(statusOf(it)).key;
    out[i]![k] = (out[i]![k] ?? 0) + 1;
  }
  return out;
}

// ---- what the logs say about a provider ----------------------------------------------------------

export interface ProviderEvent {
  /** ms since t0. */
  t: number;
  kind: "unavailable" | "credential" | "unhealthy" | "healthy" | "failover";
  /** Retry-After the filter honours (ms), when the line gives one. */
  forMs?: number;
  text: string;
}

/** The filter's log lines about one provider: cooldowns/ejections, credential rejections, health flips, failovers away from it. */
export function providerEvents(res: RunResult, provider: string): ProviderEvent[] {
  const out: ProviderEvent[] = [];
  const name = provider.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const unavailable = new RegExp(`^ai-failover: provider ${name} unavailable after status (\\d+)(?: \\(retry after (\\d+) ms\\))?`);
  const credential = new RegExp(`^ai-failover: (?:provider ${name} rejected its credential|health check ${name} rejected with)`);
  const unhealthy = new RegExp(`^ai-failover: provider ${name} marked unhealthy`);
  const healthy = new RegExp(`^ai-failover: provider ${name} is healthy again`);
  const failover = new RegExp(`^ai-failover: failover ${name} → `);
  for (const l of res.logs ?? []) {
    const t = (l.time ?? res.t0) - res.t0;
    const m = l.message;
    let u: RegExpExecArray | null;
    if ((u = unavailable.exec(m))) out.push({ t, kind: "unavailable", forMs: u[2] ? Number(u[2]) : undefined, text: m });
    else if (credential.test(m)) out.push({ t, kind: "credential", text: m });
    else if (unhealthy.test(m)) out.push({ t, kind: "unhealthy", text: m });
    else if (healthy.test(m)) out.push({ t, kind: "healthy", text: m });
    else if (failover.test(m)) out.push({ t, kind: "failover", text: m });
  }
  return out.sort((a, b) => a.t - b.t);
}

const EVENT_STYLE: Record<ProviderEvent["kind"], { color: string; label: string }> = {
  unavailable: { color: "#f08c00", label: "cooldown / ejection (unavailable after a status)" },
  credential: { color: "#7b2cbf", label: "credential rejected (no traffic until a check succeeds)" },
  failover: { color: "#1d70b8", label: "failover away from this provider" },
  unhealthy: { color: "#d62828", label: "marked unhealthy" },
  healthy: { color: "#2e9d4f", label: "healthy again" },
};

// ---- the charts ----------------------------------------------------------------------------------

interface Ctx {
  res: RunResult;
  report: Report;
  tMax: number;
  sliceMs: number;
  width: number;
}

/** Phases and faults as scheduled, one lane per provider. */
function scenarioTimeline(res: RunResult, tMax: number, width: number): string {
  const sc = res.scenario;
  const lanes = sc.providers.map((p) => p.name);
  const laneH = 26;
  const f: Frame = { w: width, h: 40 + laneH * (lanes.length + 1) + 24, left: 150, right: 20, top: 10, bottom: 24, tMax };
  const parts: string[] = [];
  let marks = 0;
  // Phases lane.
  const y0 = f.top + 4;
  let t = 0;
  sc.load.forEach((ph, i) => {
    const x1 = xOf(f, t), x2 = xOf(f, t + ph.durationMs);
    parts.push(
      `<rect class="mark" data-kind="phase" x="${f1(x1)}" y="${y0}" width="${f1(Math.max(1, x2 - x1 - 1))}" height="${laneH - 6}" fill="${i % 2 ? "#cfd8e3" : "#e3e9f0"}"><title>phase ${esc(ph.name)}: ${ph.clients} clients, ${t / 1000}s–${(t + ph.durationMs) / 1000}s</title></rect>`,
      `<text x="${f1(x1 + 4)}" y="${y0 + 14}" class="lbl">${esc(ph.name)} · ${ph.clients} clients</text>`,
    );
    marks++;
    t += ph.durationMs;
  });
  parts.push(`<text x="${f.left - 6}" y="${y0 + 14}" class="lane" text-anchor="end">load phases</text>`);
  // One lane per provider: spans (outage, fault, keys rotated, latency) and markers.
  lanes.forEach((name, li) => {
    const y = f.top + 4 + laneH * (li + 1);
    parts.push(`<text x="${f.left - 6}" y="${y + 14}" class="lane" text-anchor="end">${esc(name)}</text>`);
    parts.push(`<line x1="${f.left}" y1="${y + laneH / 2 - 3}" x2="${f.w - f.right}" y2="${y + laneH / 2 - 3}" class="grid"/>`);
    const spans = faultSpans(sc.timeline.filter((e) => e.provider === name), tMax);
    if (spans.length === 0) parts.push(`<text x="${f.left + 6}" y="${y + 14}" class="tick">no fault scheduled</text>`);
    for (const s of spans) {
      const x1 = xOf(f, s.start), x2 = xOf(f, s.end);
      const col = FAULT_COLOR[s.kind]!;
      if (s.end > s.start) {
        parts.push(
          `<rect class="mark" data-kind="${s.kind}" x="${f1(x1)}" y="${y}" width="${f1(Math.max(2, x2 - x1))}" height="${laneH - 6}" fill="${col}" fill-opacity="0.75"><title>${esc(s.label)} ${s.start / 1000}s–${s.end / 1000}s</title></rect>`,
          `<text x="${f1(x1 + 3)}" y="${y + 14}" class="lbl on">${esc(s.label)}</text>`,
        );
      } else {
        parts.push(
          `<path class="mark" data-kind="${s.kind}" d="M${f1(x1)},${y} l6,${(laneH - 6) / 2} l-6,${(laneH - 6) / 2} l-6,-${(laneH - 6) / 2} z" fill="${col}"><title>${esc(s.label)} at ${s.start / 1000}s</title></path>`,
          `<text x="${f1(x1 + 8)}" y="${y + 14}" class="lbl">${esc(s.label)}</text>`,
        );
      }
      marks++;
    }
  });
  const yAxis = f.top + 4 + laneH * (lanes.length + 1) + 4;
  parts.push(timeAxis(f, yAxis));
  f.h = yAxis + 24;
  return (
    svgOpen("timeline", f, "scenario timeline: load phases and faults", marks) +
    parts.join("") +
    "</svg>" +
    legendHtml([
      { label: "load phase", color: "#cfd8e3" },
      { label: "outage (refused / reset)", color: FAULT_COLOR.outage! },
      { label: "scripted fault", color: FAULT_COLOR.fault! },
      { label: "keys changed", color: FAULT_COLOR.keys! },
      { label: "latency changed", color: FAULT_COLOR.latency! },
      { label: "◆ one-off (a fault with a count)", color: "#888" },
    ])
  );
}

interface Span {
  kind: "outage" | "fault" | "keys" | "latency";
  start: number;
  end: number;
  label: string;
}

/** The timeline entries of one provider as spans: an outage until endOutage (or its `for`), a fault until clearFaults (or its forMs; a counted fault is a point). */
export function faultSpans(entries: TimelineEntry[], tMax: number): Span[] {
  const out: Span[] = [];
  let outage: Span | undefined;
  let faults: Span[] = [];
  let latency: Span | undefined;
  for (const e of [...entries].sort((a, b) => a.atMs - b.atMs)) {
    switch (e.action) {
      case "startOutage":
        outage = { kind: "outage", start: e.atMs, end: e.forMs ? e.atMs + e.forMs : tMax, label: `outage (${e.mode})` };
        out.push(outage);
        break;
      case "endOutage":
        if (outage && outage.end > e.atMs) outage.end = e.atMs;
        outage = undefined;
        break;
      case "setFault": {
        const f = e.fault as { type: string; status?: number; count?: number; forMs?: number; retryAfterMs?: number };
        const what = f.type === "status" ? `${f.status}` : f.type === "rateLimit" ? `429 retry-after ${(f.retryAfterMs ?? 1000) / 1000}s` : f.type;
        const s: Span = {
          kind: "fault",
          start: e.atMs,
          end: f.count ? e.atMs : f.forMs ? e.atMs + f.forMs : tMax,
          label: `fault ${what}${f.count ? ` ×${f.count}` : ""}`,
        };
        out.push(s);
        if (!f.count) faults.push(s);
        break;
      }
      case "clearFaults":
        for (const s of faults) if (s.end > e.atMs) s.end = e.atMs;
        faults = [];
        break;
      case "setKeys":
        out.push({ kind: "keys", start: e.atMs, end: tMax, label: "keys changed (its key revoked)" });
        break;
      case "setLatency":
        if (latency && latency.end > e.atMs) latency.end = e.atMs;
        latency = { kind: "latency", start: e.atMs, end: tMax, label: `latency ${e.ms}ms` };
        out.push(latency);
        break;
    }
  }
  return out;
}

/** One provider under one target: chat requests per slice by status, events lane, health band. */
function providerChart(c: Ctx, name: string): string {
  const p = c.res.providers.find((x) => x.name === name);
  const f: Frame = { w: c.width, h: 230, left: 150, right: 20, top: 10, bottom: 24, tMax: c.tMax };
  const chat = (p?.records ?? []).filter((r) => r.api !== "models");
  const n = Math.ceil(c.tMax / c.sliceMs);
  const bars = stackedBars(f, c.sliceMs, bucket(chat, (r) => r.time - c.res.t0, (r) => r.status, c.sliceMs, n), f.top + 4, 130, "requests");
  const parts = [bars.svg, `<text x="${f.left - 6}" y="70" class="lane" text-anchor="end">chat requests</text>`];
  if (chat.length === 0) parts.push(`<text x="${f.left + 10}" y="70" class="lbl">no chat request reached this provider</text>`);
  parts.push(`<text x="${f.left - 6}" y="84" class="lane sub" text-anchor="end">per ${c.sliceMs}ms, by status</text>`);
  let marks = bars.marks;
  // Events lane.
  const yE = 150;
  parts.push(`<text x="${f.left - 6}" y="${yE + 4}" class="lane" text-anchor="end">cooldowns, failovers</text>`);
  parts.push(`<line x1="${f.left}" y1="${yE}" x2="${f.w - f.right}" y2="${yE}" class="grid"/>`);
  const events = providerEvents(c.res, name);
  const isOurs = c.res.target === "ai-failover";
  for (const e of events.filter((x) => x.kind !== "healthy" && x.kind !== "unhealthy")) {
    const x = xOf(f, e.t);
    const col = EVENT_STYLE[e.kind].color;
    if (e.kind === "unavailable" && e.forMs) {
      parts.push(`<rect class="mark" data-kind="cooldown" x="${f1(x)}" y="${yE - 7}" width="${f1(Math.max(2, xOf(f, e.t + e.forMs) - x))}" height="14" fill="${col}" fill-opacity="0.35"><title>${esc(e.text)}</title></rect>`);
      marks++;
    }
    const dy = e.kind === "failover" ? 7 : -7;
    parts.push(`<path class="mark" data-kind="${e.kind}" d="M${f1(x)},${yE} l-4,${dy} l8,0 z" fill="${col}"><title>${(e.t / 1000).toFixed(2)}s ${esc(e.text)}</title></path>`);
    marks++;
  }
  if (!isOurs) parts.push(`<text x="${f.left + 4}" y="${yE + 4}" class="lbl">(the baseline logs none)</text>`);
  // Health band: healthy from the start (the warm-up's checks passed) until a flip. A state, not
  // data: class "band", not counted as marks (a run without requests is an empty chart).
  const yH = 178;
  parts.push(`<text x="${f.left - 6}" y="${yH + 11}" class="lane" text-anchor="end">health state</text>`);
  if (isOurs) {
    let state = true;
    let from = 0;
    const flips = events.filter((x) => x.kind === "healthy" || x.kind === "unhealthy");
    const segs: Array<[number, number, boolean]> = [];
    for (const e of flips) {
      const h = e.kind === "healthy";
      if (h === state) continue;
      segs.push([from, e.t, state]);
      state = h;
      from = e.t;
    }
    segs.push([from, c.tMax, state]);
    for (const [a, b, h] of segs) {
      if (b <= a) continue;
      const x1 = xOf(f, a), x2 = xOf(f, b);
      parts.push(`<rect class="band" data-kind="${h ? "healthy" : "unhealthy"}" x="${f1(x1)}" y="${yH}" width="${f1(Math.max(1, x2 - x1))}" height="14" fill="${h ? "#2e9d4f" : "#d62828"}" fill-opacity="0.8"><title>${h ? "healthy" : "unhealthy"} ${(a / 1000).toFixed(2)}s–${(b / 1000).toFixed(2)}s</title></rect>`);
    }
  } else parts.push(`<text x="${f.left + 4}" y="${yH + 11}" class="lbl">(not tracked by the baseline)</text>`);
  parts.push(timeAxis(f, 204));
  return `<figure><figcaption>${esc(c.res.target)}: ${chat.length} chat requests, ${(p?.records.length ?? 0) - chat.length} health probes</figcaption>${svgOpen(`provider:${c.res.target}:${name}`, f, `${name} under ${c.res.target}`, marks)}${parts.join("")}</svg></figure>`;
}

/** What the clients got, per slice, by status (at the time the answer completed). */
function clientChart(c: Ctx): string {
  const f: Frame = { w: c.width, h: 170, left: 150, right: 20, top: 10, bottom: 24, tMax: c.tMax };
  const n = Math.ceil(c.tMax / c.sliceMs);
  const bars = stackedBars(f, c.sliceMs, bucket(c.res.outcomes, (o) => o.end, (o) => o.status, c.sliceMs, n), f.top + 4, 140, "answers");
  const parts = [bars.svg, `<text x="${f.left - 6}" y="70" class="lane" text-anchor="end">client answers</text>`];
  if (c.res.outcomes.length === 0) parts.push(`<text x="${f.left + 10}" y="70" class="lbl">no client request</text>`);
  parts.push(`<text x="${f.left - 6}" y="84" class="lane sub" text-anchor="end">per ${c.sliceMs}ms, by status</text>`);
  parts.push(timeAxis(f, 144));
  const bad = c.res.outcomes.filter((o) => o.status < 200 || o.status >= 300).length;
  return `<figure><figcaption>${esc(c.res.target)}: ${c.res.outcomes.length} client requests, ${bad} not 2xx</figcaption>${svgOpen(`clients:${c.res.target}`, f, `client statuses under ${c.res.target}`, bars.marks)}${parts.join("")}</svg></figure>`;
}

/** Tokens admitted per rate-limit window against the provider's limit. */
function tokenChart(c: Ctx, name: string): string {
  const pr = c.report.providers.find((x) => x.name === name);
  const f: Frame = { w: c.width, h: 170, left: 150, right: 20, top: 10, bottom: 24, tMax: c.tMax };
  const ws = pr?.windows ?? [];
  const limit = pr?.tokensPerMinute;
  const maxT = Math.max(1, limit ?? 0, ...ws.map((w) => w.admittedTokens));
  const yTop = f.top + 12, yBase = 140;
  const y = (v: number) => yBase - (v / maxT) * (yBase - yTop);
  const parts: string[] = [];
  let marks = 0;
  for (const w of ws) {
    const x1 = xOf(f, w.start), x2 = xOf(f, w.end);
    const util = w.utilization !== undefined ? ` (${Math.round(w.utilization * 100)}% of ${limit})` : "";
    parts.push(
      `<rect class="mark" data-kind="window" x="${f1(x1)}" y="${f1(y(w.admittedTokens))}" width="${f1(Math.max(2, x2 - x1 - 2))}" height="${f1(Math.max(0.5, yBase - y(w.admittedTokens)))}" fill="#1d70b8" fill-opacity="${w.complete ? 0.85 : 0.35}"><title>window ${(w.start / 1000).toFixed(1)}s–${(w.end / 1000).toFixed(1)}s: ${w.admittedTokens} tokens admitted${util}, ${w.admittedRequests} requests, ${w.rejected} limit-429s${w.complete ? "" : " (cut by the end of the run)"}</title></rect>`,
    );
    marks++;
    if (w.utilization !== undefined) parts.push(`<text x="${f1((x1 + x2) / 2)}" y="${f1(y(w.admittedTokens) - 3)}" class="tick" text-anchor="middle">${Math.round(w.utilization * 100)}%</text>`);
    if (w.rejected > 0) {
      parts.push(`<circle class="mark" data-kind="rejected" cx="${f1((x1 + x2) / 2)}" cy="${yBase - 6}" r="5" fill="#d62828"><title>${w.rejected} limit-429s in this window</title></circle>`);
      marks++;
    }
  }
  if (limit) {
    parts.push(`<line class="limit" x1="${f.left}" y1="${f1(y(limit))}" x2="${f.w - f.right}" y2="${f1(y(limit))}"/>`);
    // Labelled by the caption and the legend: a label here would cover the % of a full window.
  } else parts.push(`<text x="${f.w - f.right}" y="${yTop - 2}" class="tick" text-anchor="end">no token limit on this mock</text>`);
  if (ws.length === 0) parts.push(`<text x="${f.left + 10}" y="70" class="lbl">no request admitted by this provider</text>`);
  parts.push(`<line x1="${f.left}" y1="${yTop}" x2="${f.left}" y2="${yBase}" class="axis"/>`);
  parts.push(`<text x="${f.left - 4}" y="${yTop + 4}" class="tick" text-anchor="end">${maxT}</text><text x="${f.left - 4}" y="${yBase}" class="tick" text-anchor="end">0</text>`);
  parts.push(`<text x="${f.left - 6}" y="70" class="lane" text-anchor="end">tokens admitted</text><text x="${f.left - 6}" y="84" class="lane sub" text-anchor="end">per ${c.report.windowMs}ms window</text>`);
  parts.push(timeAxis(f, 144));
  return `<figure><figcaption>${esc(c.res.target)}: ${ws.length} windows${limit ? `, limit ${limit} tokens per window` : ""}, ${pr?.limitRejections ?? 0} limit-429s</figcaption>${svgOpen(`tokens:${c.res.target}:${name}`, f, `${name} tokens per window under ${c.res.target}`, marks)}${parts.join("")}</svg></figure>`;
}

// ---- the page ------------------------------------------------------------------------------------

const CSS = `
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:16px 24px;color:#1b1f24;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 6px;border-bottom:1px solid #d0d7de;padding-bottom:3px}
h3{font-size:14px;margin:12px 0 4px}.desc{font-size:15px;margin:2px 0 6px}.meta{color:#57606a;font-size:12px}
.row{display:flex;gap:16px;flex-wrap:wrap}figure{margin:0}figcaption{font-size:12px;color:#57606a}
svg{background:#fafbfc;border:1px solid #eaeef2;display:block}
.axis{stroke:#57606a;stroke-width:1}.grid{stroke:#d0d7de;stroke-width:1;stroke-dasharray:2 3}
.limit{stroke:#d62828;stroke-width:1.5;stroke-dasharray:6 3}
.tick{font-size:10px;fill:#57606a}.lane{font-size:11px;fill:#1b1f24}.lane.sub{font-size:10px;fill:#57606a}
.lbl{font-size:11px;fill:#1b1f24}.lbl.on{fill:#fff;font-weight:600}
.legend{font-size:12px;margin:4px 0 8px}.legend span{margin-right:14px;white-space:nowrap}
.legend i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}
table.exp{border-collapse:collapse;font-size:13px}table.exp td{padding:2px 10px 2px 0;vertical-align:top}
pre{font-size:11px;background:#f6f8fa;padding:8px;overflow-x:auto}
`;

/** Marks each chart's drawn marks (non-empty rendered box) into data-drawn; the page title reports charts without marks. */
const SCRIPT = `
(function(){var empty=[];document.querySelectorAll('svg[data-chart]').forEach(function(s){var n=0;
s.querySelectorAll('.mark').forEach(function(m){var b=m.getBBox();if(b.width>0&&b.height>0)n++;});
s.setAttribute('data-drawn',String(n));if(!n)empty.push(s.getAttribute('data-chart'));});
document.body.setAttribute('data-empty-charts',empty.join(' '));})();
`;

/** The whole page for one or more runs of the same scenario (ai-failover first, then the baseline). */
export function renderReportHtml(runs: ReportRun[], opts: { generatedAt?: Date } = {}): string {
  if (runs.length === 0) throw new Error("renderReportHtml: no runs");
  const full = runs.map((r) => ({ res: r.res, report: r.report ?? analyze(r.res) }));
  const sc = full[0]!.res.scenario;
  const loadEnd = sc.load.reduce((n, p) => n + p.durationMs, 0);
  const lastSeen = Math.max(
    loadEnd,
    ...full.flatMap((r) => r.res.outcomes.map((o) => o.end)),
    ...full.flatMap((r) => r.res.providers.flatMap((p) => p.records.map((x) => x.time - r.res.t0))),
  );
  const sliceMs = sc.sliceMs;
  const tMax = Math.max(sliceMs, Math.ceil(lastSeen / sliceMs) * sliceMs);
  const width = full.length > 1 ? 660 : 1300;
  const ctxs: Ctx[] = full.map((r) => ({ ...r, tMax, sliceMs, width }));
  const targets = full.map((r) => r.res.target).join(" vs ");
  const statusLegend = legendHtml(STATUS_CLASSES.filter((c) => c.key !== "other").map((c) => ({ label: c.label, color: c.color })));
  const html: string[] = [];
  html.push(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>replay ${esc(sc.name)} — ${esc(targets)}</title><style>${CSS}</style></head><body>`);
  html.push(`<h1>Replay: ${esc(sc.name)}</h1>`);
  html.push(`<p class="desc">${esc(sc.description || "(no description)")}</p>`);
  html.push(
    `<p class="meta">${esc(sc.source.startsWith(ROOT) ? sc.source.slice(ROOT.length) : sc.source)} · target${full.length > 1 ? "s" : ""} ${esc(targets)} · window ${sc.windowMs}ms = 1 simulated minute (×${(60_000 / sc.windowMs).toFixed(1)} compression) · ` +
      `${sc.providers.length} providers · load ${loadEnd / 1000}s in ${sc.load.length} phase${sc.load.length === 1 ? "" : "s"} · ` +
      `times in s since the load started` + (opts.generatedAt ? ` · generated ${esc(opts.generatedAt.toISOString())}` : "") + `</p>`,
  );

  html.push(`<h2>Expectations</h2>`);
  for (const c of full) {
    const v = verdict(c.report);
    html.push(`<h3>${esc(c.res.target)}: <span class="${v.startsWith("PASS") ? "pass" : "fail"}" data-verdict="${esc(c.res.target)}">${esc(v)}</span></h3><table class="exp">`);
    for (const e of c.report.expectations) {
      html.push(`<tr><td class="${e.ok ? "pass" : "fail"}">${e.ok ? "✓" : "✗"}</td><td>${esc(e.name)}</td><td>${esc(e.expect)}</td><td>${esc(e.seen)}</td></tr>`);
    }
    html.push(`</table>`);
  }

  html.push(`<h2>Scenario timeline (as scheduled)</h2>`);
  html.push(scenarioTimeline(full[0]!.res, tMax, full.length > 1 ? 1340 : 1300));
  for (const c of full) {
    const late = c.res.actions.filter((a) => a.error);
    const ran = c.res.actions.map((a) => `${a.action} ${a.provider} at ${(a.ranAt / 1000).toFixed(2)}s${a.error ? ` (failed: ${a.error})` : ""}`);
    if (ran.length) html.push(`<p class="meta">${esc(c.res.target)} ran: ${esc(ran.join(" · "))}${late.length ? " — some actions failed" : ""}</p>`);
  }

  html.push(`<h2>Providers: chat requests by status, cooldowns and health</h2>`);
  html.push(statusLegend);
  html.push(
    legendHtml([
      ...(["unavailable", "credential", "failover"] as const).map((k) => ({ label: `${k === "failover" ? "▼" : "▲"} ${EVENT_STYLE[k].label}`, color: EVENT_STYLE[k].color })),
      { label: "cooldown for the Retry-After given", color: "#f5c27a" },
      { label: "healthy", color: "#2e9d4f" },
      { label: "unhealthy", color: "#d62828" },
    ]),
  );
  for (const p of sc.providers) {
    const pr = full[0]!.report.providers.find((x) => x.name === p.name);
    html.push(`<h3>${esc(p.name)}${pr ? ` · priority ${pr.priority}` : ""}${p.mock.tokensPerMinute ? ` · ${p.mock.tokensPerMinute} tokens per window` : ""}${p.mock.latencyMs ? ` · latency ${p.mock.latencyMs}ms` : ""}</h3>`);
    html.push(`<div class="row">${ctxs.map((c) => providerChart(c, p.name)).join("")}</div>`);
  }

  html.push(`<h2>What the clients saw</h2>`);
  html.push(statusLegend);
  html.push(`<div class="row">${ctxs.map((c) => clientChart(c)).join("")}</div>`);

  html.push(`<h2>Tokens per rate-limit window against each limit</h2>`);
  html.push(
    `<p class="meta">tokens = prompt estimate + max_tokens of each admitted request (what Azure counts at admission); windows rebuilt from the mock's records as it anchors them; pale bars: cut by the end of the run.</p>`,
  );
  html.push(legendHtml([{ label: "admitted tokens (bar, % of the limit)", color: "#1d70b8" }, { label: "limit (dashed)", color: "#d62828", shape: "line" }, { label: "● limit-429s in the window", color: "#d62828" }]));
  for (const p of sc.providers) {
    html.push(`<h3>${esc(p.name)}</h3><div class="row">${ctxs.map((c) => tokenChart(c, p.name)).join("")}</div>`);
  }

  html.push(`<h2>Text report</h2>`);
  for (const c of full) html.push(`<pre>${esc(formatReport(c.report))}\n${esc(formatSlices(c.report, sliceMs))}</pre>`);
  html.push(`<script>${SCRIPT}</script></body></html>`);
  return html.join("\n");
}

// ---- reading charts back (tests) -----------------------------------------------------------------

export interface ChartMarks {
  chart: string;
  /** Marks the generator drew (data-marks). */
  marks: number;
  /** Marks with a non-empty rendered box (data-drawn, set by the page's script in a browser); undefined outside a browser. */
  drawn?: number;
  /** `class="mark"` elements actually in the markup. */
  elements: number;
}

/** Every `<svg data-chart>` of a page (its HTML source, or a browser's dumped DOM) with its marks. */
export function chartMarks(html: string): ChartMarks[] {
  const out: ChartMarks[] = [];
  const re = /<svg\b([^>]*)>([\s\S]*?)<\/svg>/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(html))) {
    const attrs = m[1]!;
    const chart = /\sdata-chart="([^"]*)"/.exec(attrs)?.[1];
    if (chart === undefined) continue;
    const marks = Number(/\sdata-marks="(\d+)"/.exec(attrs)?.[1] ?? NaN);
    const drawnS = /\sdata-drawn="(\d+)"/.exec(attrs)?.[1];
    const elements = (m[2]!.match(/<(?:rect|circle|path|line|polygon)\b[^>]*\bclass="mark"/g) ?? []).length;
    out.push({ chart, marks, drawn: drawnS === undefined ? undefined : Number(drawnS), elements });
  }
  return out;
}

/** Problems: no charts at all, or charts with no mark drawn (rendered count when there is one). */
export function emptyCharts(html: string): string[] {
  const charts = chartMarks(html);
  if (charts.length === 0) return ["no charts in the page"];
  return charts
    .filter((c) => (c.drawn ?? c.elements) === 0)
    .map((c) => `chart ${c.chart}: 0 marks ${c.drawn === undefined ? "in the markup" : "drawn by the browser"} (generator drew ${c.marks})`);
}
