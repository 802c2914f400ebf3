// The timers view: search by status, label selector and name prefix, page through the results,
// and open one timer: its fields, action results with attempts, trace id, and its lifecycle as a
// timeline of events with their sequence numbers (replayed from the tenant's event log, then
// live). Cancel, pause, resume and reschedule go through the same calls, and role checks, as any
// client's.

import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { TimerEventType, TimerStatus, type Timer, type TimerEvent } from "./gen/minoots/v1/timer_pb";
import { $, checked, el, fields, fillTable, instant, iso, labelsText, replaceRow, when } from "./dom";
import { clearError, FINAL, RETRY_MS, retryAfter, showError } from "./errors";
import type { Session } from "./session";

export const statusName = (s: TimerStatus) => (TimerStatus[s] ?? "UNSPECIFIED").toLowerCase();
export const eventName = (t: TimerEventType) => `timer.${(TimerEventType[t] ?? "unspecified").toLowerCase()}`;

/** The trace id of a W3C traceparent (`00-<trace id>-<span id>-<flags>`). */
export const traceId = (traceparent: string) => traceparent.split("-")[1] ?? "";

const SAFE_LABEL = /^[A-Za-z0-9._/-]+$/;
const BY = "minoots-console";
const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** The reschedule field: an RFC 3339 instant, or a duration from now (`90s`, `15m`, `1h`). */
function newSchedule() {
  const text = $<HTMLInputElement>("timer-fire-at").value.trim();
  const duration = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(text);
  if (duration) {
    const seconds = Number(duration[1]) * UNITS[duration[2]];
    const whole = Math.floor(seconds);
    return { case: "duration" as const, value: create(DurationSchema, { seconds: BigInt(whole), nanos: Math.round((seconds - whole) * 1e9) }) };
  }
  if (!/^\d{4}-/.test(text)) {
    throw new ConnectError(`fire_at: "${text}" is neither an RFC 3339 time nor a duration like 15m`, Code.InvalidArgument);
  }
  return { case: "fireAt" as const, value: instant("fire_at", text) };
}

export class TimersView {
  private session?: Session;
  /** Page tokens of the pages shown so far; the last is the current page's. */
  private tokens: string[] = [""];
  private next = "";
  private detail?: AbortController;
  private current?: Timer;
  private seen = new Set<bigint>();
  /** Said of the timeline when its first events are no longer retained. */
  private note = "";

  constructor() {
    const form = $<HTMLFormElement>("timer-search");
    form.onsubmit = (ev) => {
      ev.preventDefault();
      this.tokens = [""];
      void this.search();
    };
    $("timers-first").onclick = () => {
      this.tokens = [""];
      void this.search();
    };
    $("timers-next").onclick = () => {
      this.tokens.push(this.next);
      void this.search();
    };
    $("bulk-count").onclick = () => void this.bulk(true);
    $<HTMLFormElement>("bulk-form").onsubmit = (ev) => {
      ev.preventDefault();
      void this.bulk(false);
    };
    const control = (id: string, run: (t: Timer, s: Session) => Promise<Timer | undefined>) => {
      $<HTMLFormElement>(id).onsubmit = (ev) => {
        ev.preventDefault();
        void this.control(id, run);
      };
    };
    control("timer-cancel-form", async (t, s) =>
      (await s.timers.cancelTimer({ id: t.id, reason: $<HTMLInputElement>("timer-cancel-reason").value, requestedBy: BY })).timer,
    );
    control("timer-pause-form", async (t, s) =>
      (await s.timers.pauseTimer({ id: t.id, reason: $<HTMLInputElement>("timer-pause-reason").value, requestedBy: BY })).timer,
    );
    control("timer-resume-form", async (t, s) => (await s.timers.resumeTimer({ id: t.id, requestedBy: BY })).timer);
    // Optimistic: refused (ABORTED) when the timer changed since it was shown.
    control("timer-update-form", async (t, s) =>
      (await s.timers.updateTimer({ id: t.id, expectedStateVersion: t.stateVersion, schedule: newSchedule(), requestedBy: BY })).timer,
    );
  }

  signIn(session: Session) {
    this.session = session;
  }

  signOut() {
    this.session = undefined;
    this.close();
    $("timers-rows").replaceChildren();
  }

  /** Shown: lists the first page (once), and opens `id` when the route names one. */
  async show(id?: string) {
    if (!this.session) return;
    if (!$("timers-rows").childElementCount) await this.search();
    if (id) await this.open(id);
    else this.close();
  }

  private request() {
    const form = $<HTMLFormElement>("timer-search");
    return {
      statuses: checked(form, "status").map((s) => TimerStatus[s as keyof typeof TimerStatus]),
      labelSelector: $<HTMLInputElement>("timer-labels").value.trim(),
      namePrefix: $<HTMLInputElement>("timer-prefix").value,
      pageSize: Number($<HTMLSelectElement>("timer-page-size").value),
      pageToken: this.tokens[this.tokens.length - 1],
    };
  }

  async search() {
    if (!this.session) return;
    const form = $("timer-search");
    clearError($("timers-error"), form);
    try {
      const page = await this.session.timers.listTimers(this.request());
      this.next = page.nextPageToken;
      fillTable($("timers-rows"), page.timers.map((t) => this.row(t)));
      const n = this.tokens.length;
      $("timers-page").textContent = page.timers.length
        ? `page ${n}, ${page.timers.length} timer${page.timers.length === 1 ? "" : "s"}${this.next ? "" : " (last page)"}`
        : "no timers match";
      $<HTMLButtonElement>("timers-first").disabled = n === 1;
      $<HTMLButtonElement>("timers-next").disabled = !this.next;
    } catch (e) {
      showError($("timers-error"), e, form);
    }
  }

  private row(t: Timer) {
    const open = el("a", { href: `#/timers/${encodeURIComponent(t.id)}`, class: "timer-link" }, t.name || "(unnamed)");
    const tr = el(
      "tr",
      { "data-id": t.id, class: t.id === this.current?.id ? "selected" : undefined },
      el("td", {}, open),
      el("td", { class: `status status-${statusName(t.status)}` }, statusName(t.status)),
      el("td", {}, when(t.fireAt)),
      el("td", { class: "mono" }, labelsText(t.labels)),
      el("td", { class: "mono" }, t.id),
    );
    return tr;
  }

  private close() {
    this.detail?.abort();
    this.detail = undefined;
    this.current = undefined;
    $("timer-detail").hidden = true;
  }

  async open(id: string) {
    if (!this.session) return;
    this.close();
    const error = $("timer-error");
    clearError(error, $("timer-cancel-form"));
    try {
      const { timer } = await this.session.timers.getTimer({ id });
      if (!timer) return;
      this.current = timer;
      this.seen.clear();
      this.note = "";
      $("timeline").replaceChildren();
      this.render(timer);
      $("timer-detail").hidden = false;
      $("timer-detail-title").focus();
      this.detail = new AbortController();
      void this.follow(timer, this.detail.signal);
    } catch (e) {
      $("timer-detail").hidden = false;
      $("timer-fields").replaceChildren();
      showError(error, e);
    }
  }

  private render(t: Timer) {
    $("timer-detail-title").textContent = `Timer ${t.name || t.id}`;
    const trace = traceId(t.traceParent);
    fields($("timer-fields"), [
      ["Id", el("span", { class: "mono" }, t.id)],
      ["Status", el("span", { class: `status status-${statusName(t.status)}`, id: "timer-status" }, statusName(t.status))],
      ["State version", String(t.stateVersion)],
      ["Fires at", when(t.fireAt)],
      ["Fired at", when(t.firedAt)],
      ["Lateness", t.firedAt ? `${t.jitterMs.toFixed(3)} ms` : ""],
      ["Settled at", when(t.settledAt)],
      ["Cancelled", t.cancelledAt ? el("span", {}, when(t.cancelledAt), ` by ${t.cancelledBy || "?"}: ${t.cancelReason}`) : ""],
      ["Paused", t.pausedAt ? el("span", {}, when(t.pausedAt), ` by ${t.pausedBy || "?"}${t.tenantPaused ? " (the whole tenant)" : ""}: ${t.pauseReason}`) : ""],
      ["Failure", t.failureReason],
      ["Labels", el("span", { class: "mono" }, labelsText(t.labels))],
      ["Requested by", t.requestedBy],
      ["Trace id", trace ? el("span", { class: "mono", id: "timer-trace" }, trace) : ""],
      ["Idempotency key", el("span", { class: "mono" }, t.idempotencyKey)],
    ]);
    const running = t.status === TimerStatus.SCHEDULED || t.status === TimerStatus.ARMED;
    const paused = t.status === TimerStatus.PAUSED;
    $("timer-cancel-form").hidden = !running && !paused;
    $("timer-pause-form").hidden = !running;
    $("timer-resume-form").hidden = !paused;
    $("timer-update-form").hidden = !running && !paused;
    fillTable(
      $("timer-results-rows"),
      t.actionResults.map((r) =>
        el(
          "tr",
          {},
          el("td", {}, r.fallback ? `fallback` : String(r.index)),
          el("td", {}, r.kind + (r.actionId ? ` (${r.actionId})` : "")),
          el("td", { class: r.ok ? "ok" : "bad" }, r.ok ? "ok" : "failed"),
          el("td", {}, String(r.attempts)),
          el("td", {}, r.detail),
          el("td", {}, when(r.finishedAt)),
          el("td", { class: "mono" }, r.idempotencyKey),
        ),
      ),
    );
    if (!t.actionResults.length) {
      fillTable($("timer-results-rows"), [el("tr", {}, el("td", { colspan: "7", class: "muted" }, "no action has run"))]);
    }
    const row = document.querySelector<HTMLTableRowElement>(`#timers-rows tr[data-id="${CSS.escape(t.id)}"]`);
    if (row) replaceRow(row, this.row(t));
    this.timelineState();
  }

  private timelineState() {
    const t = this.current;
    if (!t) return;
    const n = this.seen.size;
    $("timeline-state").textContent = `(${n} of ${t.stateVersion} events${this.note})`;
  }

  /**
   * The timer's events: the tenant's retained log is replayed (narrowed by the timer's labels
   * when they make a selector) and kept to this timer, then the stream stays live while the
   * detail is open.
   */
  private async follow(timer: Timer, signal: AbortSignal) {
    const pairs = Object.entries(timer.labels).filter(([k, v]) => SAFE_LABEL.test(k) && SAFE_LABEL.test(v));
    const labelSelector = pairs.map(([k, v]) => `${k}=${v}`).join(",");
    let after = 0n;
    while (!signal.aborted) {
      try {
        for await (const event of this.session!.timers.streamTimerEvents({ afterSequence: after, labelSelector }, { signal })) {
          after = event.sequence;
          if (event.timerId === timer.id) this.event(event);
        }
      } catch (e) {
        if (signal.aborted) return;
        const error = ConnectError.from(e);
        const oldest = /oldest retained sequence is (\d+)/.exec(error.rawMessage)?.[1];
        if (error.code === Code.OutOfRange && oldest) {
          // The first events were purged past retention: show what is left.
          after = BigInt(oldest) - 1n;
          this.note = "; older ones are no longer retained";
          this.timelineState();
          continue;
        }
        if (FINAL.includes(error.code)) {
          showError($("timer-error"), e);
          return;
        }
      }
      // Dropped (or ended by a restarting server): reconnect after the last sequence seen.
      if (!(await retryAfter(RETRY_MS, signal))) return;
    }
  }

  private event(event: TimerEvent) {
    if (this.seen.has(event.sequence)) return;
    this.seen.add(event.sequence);
    const t = event.timer;
    const details: string[] = [];
    if (event.eventType === TimerEventType.FIRED && t) details.push(`${t.jitterMs.toFixed(3)} ms late`);
    if (event.eventType === TimerEventType.CANCELLED && t) details.push(`by ${t.cancelledBy || "?"}: ${t.cancelReason}`);
    if (event.eventType === TimerEventType.FAILED && t) details.push(t.failureReason);
    if (event.eventType === TimerEventType.PAUSED && t) details.push(`by ${t.pausedBy || "?"}: ${t.pauseReason}`);
    if (event.eventType === TimerEventType.UPDATED && t?.fireAt) details.push(`fires at ${iso(t.fireAt)}`);
    if (event.eventType === TimerEventType.RESUMED && t?.fireAt) details.push(`fires at ${iso(t.fireAt)}`);
    if (t && (event.eventType === TimerEventType.SETTLED || event.eventType === TimerEventType.FAILED)) {
      for (const r of t.actionResults)
        details.push(`${r.kind} ${r.ok ? "ok" : "failed"} after ${r.attempts} attempt${r.attempts === 1 ? "" : "s"}: ${r.detail}`);
    }
    const item = el(
      "li",
      { "data-sequence": String(event.sequence), "data-type": eventName(event.eventType) },
      el("span", { class: "seq" }, `#${event.sequence}`),
      " ",
      el("strong", {}, eventName(event.eventType)),
      " ",
      when(event.occurredAt),
      details.length ? el("div", { class: "muted" }, details.join(" · ")) : null,
    );
    // In sequence order, whatever order replay and live deliver them in.
    const later = [...$("timeline").children].find((li) => BigInt((li as HTMLElement).dataset.sequence!) > event.sequence);
    $("timeline").insertBefore(item, later ?? null);
    if (t && this.current && t.stateVersion >= this.current.stateVersion) {
      this.current = t;
      this.render(t);
    } else {
      this.timelineState();
    }
  }

  /**
   * Pause, resume or cancel every pending timer the search's label selector and name prefix
   * match (the server requires a selector): a dry run counts them, and applying asks first.
   */
  private async bulk(dryRun: boolean) {
    if (!this.session) return;
    const action = $<HTMLSelectElement>("bulk-action").value as "pause" | "resume" | "cancel";
    const error = $("bulk-error");
    const search = $("timer-search");
    clearError(error, search);
    $("bulk-result").textContent = "";
    const request = {
      labelSelector: $<HTMLInputElement>("timer-labels").value.trim(),
      namePrefix: $<HTMLInputElement>("timer-prefix").value,
      reason: `${action} in the console`,
      requestedBy: BY,
    };
    const call = {
      pause: (r: typeof request & { dryRun: boolean }) => this.session!.timers.pauseTimers(r),
      resume: (r: typeof request & { dryRun: boolean }) => this.session!.timers.resumeTimers(r),
      cancel: (r: typeof request & { dryRun: boolean }) => this.session!.timers.cancelTimers(r),
    }[action];
    try {
      const counted = await call({ ...request, dryRun: true });
      if (dryRun) {
        $("bulk-result").textContent = `${counted.matched} timer${counted.matched === 1n ? "" : "s"} would ${action}`;
        return;
      }
      if (!confirm(`${action} ${counted.matched} timer(s) matching "${request.labelSelector}"?`)) return;
      const done = await call({ ...request, dryRun: false });
      await this.search();
      // Said once the list shows the change.
      $("bulk-result").textContent = `${action}: ${done.changed} of ${done.matched} matching timers changed`;
    } catch (e) {
      showError(error, e, search);
    }
  }

  /** Cancel, pause, resume or reschedule the open timer, through the same calls as any client. */
  private async control(formId: string, run: (t: Timer, s: Session) => Promise<Timer | undefined>) {
    const t = this.current;
    if (!this.session || !t) return;
    const form = $(formId);
    const error = $("timer-error");
    clearError(error, $("timer-actions"));
    try {
      const timer = await run(t, this.session);
      if (timer && timer.stateVersion >= (this.current?.stateVersion ?? 0n)) {
        this.current = timer;
        this.render(timer);
      }
    } catch (e) {
      showError(error, e, form);
    }
  }
}
