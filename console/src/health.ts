// The health view: readiness and leadership, the regions a gateway sends to, and two charts drawn
// as plain SVG from samples of /metrics taken every two seconds while signed in: fire and schedule rates over the
// last ten minutes, and the fire-lateness histogram.

import { $, el, fields } from "./dom";
import { clearError, showError } from "./errors";

const SAMPLE_MS = 2_000;
const WINDOW_MS = 10 * 60_000;
const SVG = "http://www.w3.org/2000/svg";

interface Sample {
  at: number;
  scheduled: number;
  fired: number;
}

export interface Metric {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format: one sample per line, `# ...` lines skipped. */
export function parseMetrics(text: string): Metric[] {
  const out: Metric[] = [];
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || line.startsWith("#")) continue;
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

function svg(tag: string, attrs: Record<string, string | number>, text?: string) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Drawn at the width shown (within 320..640 units), so its text stays legible on a phone. */
function chartWidth(id: string) {
  return Math.round(Math.max(320, Math.min(640, $(id).clientWidth || 640)));
}

/** A y-axis top that reads well: 1, 2 or 5 times a power of ten. */
function niceMax(value: number) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((v) => v >= value) ?? 10 * power;
}

export class HealthView {
  private samples: Sample[] = [];
  private timer?: ReturnType<typeof setInterval>;
  private latest: Metric[] = [];
  private ready = "";
  private visible = false;

  signIn() {
    this.samples = [];
    void this.sample();
    this.timer = setInterval(() => void this.sample(), SAMPLE_MS);
  }

  signOut() {
    clearInterval(this.timer);
    this.timer = undefined;
    this.samples = [];
  }

  async show() {
    this.visible = true;
    await this.sample();
  }

  hide() {
    this.visible = false;
  }

  private async sample() {
    try {
      const [metrics, ready] = await Promise.all([
        fetch("/metrics", { cache: "no-store", credentials: "omit" }),
        fetch("/readyz", { cache: "no-store", credentials: "omit" }),
      ]);
      if (!metrics.ok) throw new Error(`/metrics answered ${metrics.status}`);
      this.latest = parseMetrics(await metrics.text());
      const body = await ready.json().catch(() => ({}));
      this.ready = ready.ok ? "ready" : `not ready: ${body?.error?.message ?? ready.status}`;
      const value = (name: string) => this.latest.find((m) => m.name === name)?.value ?? 0;
      const now = Date.now();
      this.samples.push({ at: now, scheduled: value("minoots_timers_scheduled_total"), fired: value("minoots_timers_fired_total") });
      this.samples = this.samples.filter((s) => s.at >= now - WINDOW_MS - SAMPLE_MS);
      clearError($("health-error"));
    } catch (e) {
      if (this.visible) showError($("health-error"), e);
      return;
    }
    if (this.visible) this.render();
  }

  private render() {
    const metric = (name: string) => this.latest.find((m) => m.name === name);
    const leader = metric("minoots_kernel_leader");
    const regions = this.latest.filter((m) => m.name === "minoots_gateway_region");
    const count = metric("minoots_fire_lateness_milliseconds_count")?.value ?? 0;
    const sum = metric("minoots_fire_lateness_milliseconds_sum")?.value ?? 0;
    fields($("health-fields"), [
      ["Ready", el("span", { id: "health-ready", class: this.ready === "ready" ? "ok" : "bad" }, this.ready)],
      ["Leader", leader ? (leader.value ? "this kernel leads" : "another kernel leads (this one follows)") : "remote kernels (see regions)"],
      [
        "Regions",
        regions.length
          ? regions.map((r) => `${r.labels.region}${r.labels.primary === "true" ? " (primary)" : ""}`).join(", ")
          : "one, in this process",
      ],
      ["Armed timers", String(metric("minoots_timers_armed")?.value ?? "–")],
      ["Open event streams", String(metric("minoots_stream_subscribers")?.value ?? "–")],
      ["Timers fired", String(metric("minoots_timers_fired_total")?.value ?? "–")],
      ["Dead letters", String(metric("minoots_dead_letters_total")?.value ?? "–")],
      ["Mean lateness", count ? `${(sum / count).toFixed(3)} ms over ${count} fires` : "no fires yet"],
    ]);
    this.rates();
    this.lateness();
  }

  private rates() {
    const W = chartWidth("chart-rates"), H = 220, L = 44, B = 26, T = 10, R = 10;
    const now = Date.now();
    const points = this.samples.slice(1).map((s, i) => {
      const prev = this.samples[i];
      const seconds = (s.at - prev.at) / 1000 || 1;
      return { at: s.at, fire: Math.max(0, (s.fired - prev.fired) / seconds), schedule: Math.max(0, (s.scheduled - prev.scheduled) / seconds) };
    });
    const top = niceMax(Math.max(0, ...points.flatMap((p) => [p.fire, p.schedule])));
    // The span drawn grows from the first sample up to the ten-minute window.
    const span = Math.max(10_000, Math.min(WINDOW_MS, now - (this.samples[0]?.at ?? now)));
    const x = (at: number) => L + ((at - (now - span)) / span) * (W - L - R);
    const ago = (ms: number) => (ms >= 60_000 ? `-${+(ms / 60_000).toFixed(1)} min` : `-${Math.round(ms / 1000)} s`);
    const y = (v: number) => T + (1 - v / top) * (H - T - B);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "rates-desc" });
    const last = points[points.length - 1];
    root.append(
      svg("title", { id: "rates-desc" }, last ? `Now ${last.fire.toFixed(1)} fires/s and ${last.schedule.toFixed(1)} schedules/s` : "Collecting samples"),
    );
    for (const f of [0, 0.5, 1]) {
      root.append(svg("line", { class: "grid", x1: L, x2: W - R, y1: y(top * f), y2: y(top * f) }));
      root.append(svg("text", { x: L - 6, y: y(top * f) + 4, "text-anchor": "end" }, String(+(top * f).toFixed(2))));
    }
    for (const [f, anchor] of [[1, "start"], [0.5, "middle"], [0, "end"]] as const) {
      root.append(svg("text", { x: x(now - span * f), y: H - 8, "text-anchor": anchor }, f ? ago(span * f) : "now"));
    }
    root.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
    for (const [key, cls] of [["fire", "fire"], ["schedule", "schedule"]] as const) {
      if (points.length < 1) continue;
      const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.at).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ");
      root.append(svg("path", { class: cls, d }));
      for (const p of points) root.append(svg("circle", { class: `${cls} dot`, cx: x(p.at), cy: y(p[key]), r: 2.5 }));
    }
    $("chart-rates").replaceChildren(
      root,
      el("p", {}, el("span", { class: "legend-fire" }, "— fired"), "  ", el("span", { class: "legend-schedule" }, "- - scheduled")),
    );
  }

  private lateness() {
    const buckets = this.latest
      .filter((m) => m.name === "minoots_fire_lateness_milliseconds_bucket")
      .map((m) => ({ le: m.labels.le, cumulative: m.value }));
    const bars = buckets.map((b, i) => ({ le: b.le, count: b.cumulative - (i ? buckets[i - 1].cumulative : 0) }));
    const W = chartWidth("chart-lateness"), H = 220, L = 44, B = 26, T = 10, R = 10;
    const top = niceMax(Math.max(0, ...bars.map((b) => b.count)));
    const width = (W - L - R) / Math.max(1, bars.length);
    const y = (v: number) => T + (1 - v / top) * (H - T - B);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "lateness-desc" });
    root.append(
      svg("title", { id: "lateness-desc" }, bars.map((b) => `≤ ${b.le} ms: ${b.count}`).join("; ") || "No fires yet"),
    );
    for (const f of [0, 0.5, 1]) {
      root.append(svg("line", { class: "grid", x1: L, x2: W - R, y1: y(top * f), y2: y(top * f) }));
      root.append(svg("text", { x: L - 6, y: y(top * f) + 4, "text-anchor": "end" }, String(+(top * f).toFixed(1))));
    }
    bars.forEach((b, i) => {
      const x = L + i * width;
      root.append(svg("rect", { class: "bar", "data-count": b.count, x: x + 2, width: Math.max(1, width - 4), y: y(b.count), height: H - B - y(b.count) }));
      // Narrow charts label every other bucket, so labels never overlap.
      if (width >= 40 || i % 2 === 0) {
        root.append(svg("text", { x: x + width / 2, y: H - 8, "text-anchor": "middle" }, b.le === "+Inf" ? "more" : `≤${b.le}`));
      }
    });
    root.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
    $("chart-lateness").replaceChildren(root, el("p", { class: "muted" }, "milliseconds from due time to firing"));
  }
}
