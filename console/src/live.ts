// The live view: the tenant's event stream, filtered by event type and label selector. When the
// connection drops it reconnects and resumes after the last sequence it showed, so nothing is
// missed; a changed filter resumes from there too.

import { ConnectError } from "@connectrpc/connect";
import { TimerEventType, type TimerEvent } from "./gen/minoots/v1/timer_pb";
import { $, checked, el, when } from "./dom";
import { clearError, FINAL, RETRY_MS, retryAfter, showError } from "./errors";
import type { Session } from "./session";
import { eventName, statusName } from "./timers";

/** Events kept on screen; older ones scroll away. */
const KEEP = 500;

export class LiveView {
  private session?: Session;
  private running?: AbortController;
  private after?: bigint;

  constructor() {
    $<HTMLFormElement>("live-filters").onsubmit = (ev) => {
      ev.preventDefault();
      if (this.session) this.start();
    };
    $("live-toggle").onclick = () => {
      if (this.running) this.stop();
      else if (this.session) this.start();
    };
  }

  signIn(session: Session) {
    this.session = session;
    this.after = undefined;
    $("live-events").replaceChildren();
    this.start();
  }

  signOut() {
    this.stop();
    this.session = undefined;
    $("live-events").replaceChildren();
  }

  private state(text: "live" | "reconnecting" | "stopped" | "connecting") {
    const badge = $("live-state");
    badge.textContent = text;
    badge.className = `badge ${text}`;
    $("live-toggle").textContent = this.running ? "Pause" : "Resume";
  }

  stop() {
    this.running?.abort();
    this.running = undefined;
    this.state("stopped");
  }

  start() {
    this.running?.abort();
    this.running = new AbortController();
    void this.run(this.running.signal);
  }

  private async run(signal: AbortSignal) {
    const form = $<HTMLFormElement>("live-filters");
    const request = () => ({
      afterSequence: this.after,
      eventTypes: checked(form, "type").map((t) => TimerEventType[t as keyof typeof TimerEventType]),
      labelSelector: $<HTMLInputElement>("live-labels").value.trim(),
    });
    clearError($("live-error"), form);
    this.state("connecting");
    while (!signal.aborted) {
      try {
        // Live once the server answered: from then on no event is missed.
        const events = this.session!.timers.streamTimerEvents(request(), {
          signal,
          onHeader: () => this.state("live"),
        });
        for await (const event of events) this.show(event);
      } catch (e) {
        if (signal.aborted) return;
        const error = ConnectError.from(e);
        // What a retry cannot fix is shown and stops the stream.
        if (FINAL.includes(error.code)) {
          showError($("live-error"), error, form);
          this.running = undefined;
          this.state("stopped");
          return;
        }
      }
      if (signal.aborted) return;
      this.state("reconnecting");
      if (!(await retryAfter(RETRY_MS, signal))) return;
    }
  }

  private show(event: TimerEvent) {
    if (this.after !== undefined && event.sequence <= this.after) return;
    this.after = event.sequence;
    $("live-after").textContent = String(event.sequence);
    const t = event.timer;
    const item = el(
      "li",
      { "data-sequence": String(event.sequence) },
      el("span", { class: "seq" }, `#${event.sequence}`),
      " ",
      el("span", { class: "type" }, eventName(event.eventType)),
      " ",
      el("a", { href: `#/timers/${encodeURIComponent(event.timerId)}` }, t?.name || event.timerId),
      " ",
      t ? el("span", { class: `status status-${statusName(t.status)}` }, statusName(t.status)) : null,
      " ",
      el("span", { class: "muted" }, when(event.occurredAt)),
    );
    const list = $("live-events");
    list.prepend(item);
    while (list.childElementCount > KEEP) list.lastElementChild?.remove();
  }
}
