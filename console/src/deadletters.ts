// The dead-letters view: actions that exhausted their retries. List (since a time, resolved ones
// too on request), open one, replay one or every unresolved one since a time; each replay's
// outcome (the action's result and the timer's status after it) is shown.

import { toJsonString } from "@bufbuild/protobuf";
import { ActionSchema, type Action, type DeadLetter, type ReplayResult } from "./gen/minoots/v1/timer_pb";
import { $, el, fields, fillTable, instant, when } from "./dom";
import { clearError, showError } from "./errors";
import type { Session } from "./session";
import { statusName } from "./timers";

export function actionText(action: Action | undefined): string {
  const kind = action?.kind;
  switch (kind?.case) {
    case "webhook":
      return `webhook ${kind.value.method || "POST"} ${kind.value.url}`;
    case "command":
      return `command ${kind.value.program}`;
    case "file":
      return `file ${kind.value.path}`;
    case "agentPrompt":
      return `agent prompt ${kind.value.target}`;
    default:
      return "";
  }
}

export class DeadLettersView {
  private session?: Session;
  /** The dead letter whose details are shown, refreshed after a replay. */
  private opened?: string;

  constructor() {
    $<HTMLFormElement>("dl-search").onsubmit = (ev) => {
      ev.preventDefault();
      void this.list();
    };
    $("dl-replay-all").onclick = () => void this.replayAll();
  }

  signIn(session: Session) {
    this.session = session;
  }

  signOut() {
    this.session = undefined;
    $("dl-rows").replaceChildren();
    this.opened = undefined;
    $("dl-detail").hidden = true;
    $("dl-outcome").hidden = true;
  }

  async show() {
    await this.list();
  }

  /** The since field as a timestamp; empty means every time. */
  private since() {
    const text = $<HTMLInputElement>("dl-since").value.trim();
    return text ? instant("since", text) : undefined;
  }

  async list() {
    if (!this.session) return;
    const form = $("dl-search");
    clearError($("dl-error"), form);
    try {
      const { deadLetters } = await this.session.deadLetters.listDeadLetters({
        since: this.since(),
        includeResolved: $<HTMLInputElement>("dl-resolved").checked,
        limit: 1000,
      });
      fillTable(
        $("dl-rows"),
        deadLetters.length
          ? deadLetters.map((d) => this.row(d))
          : [el("tr", {}, el("td", { colspan: "8", class: "muted" }, "no dead letters"))],
      );
    } catch (e) {
      showError($("dl-error"), e, form);
    }
  }

  private row(d: DeadLetter) {
    const details = el("button", { type: "button", class: "secondary", "aria-label": `Details of dead letter ${d.id}` }, "Details");
    details.onclick = () => void this.open(d.id);
    const replay = el("button", { type: "button", class: "replay", "aria-label": `Replay dead letter ${d.id}` }, "Replay");
    replay.onclick = () => void this.replay(d.id);
    return el(
      "tr",
      { "data-id": d.id, "data-timer": d.timerId },
      el("td", { class: "mono" }, d.id),
      el("td", { class: "mono" }, el("a", { href: `#/timers/${encodeURIComponent(d.timerId)}` }, d.timerId)),
      el("td", {}, actionText(d.action)),
      el("td", {}, String(d.attempts)),
      el("td", {}, d.lastError),
      el("td", {}, when(d.createdAt)),
      el("td", { class: d.resolvedAt ? "ok state" : "bad state" }, d.resolvedAt ? `resolved (${d.replays} replays)` : d.replays ? `unresolved (${d.replays} replays)` : "unresolved"),
      el("td", {}, el("span", { class: "row" }, details, d.resolvedAt ? null : replay)),
    );
  }

  async open(id: string, focus = true) {
    if (!this.session) return;
    clearError($("dl-error"));
    try {
      const d = await this.session.deadLetters.getDeadLetter({ id });
      fields($("dl-fields"), [
        ["Id", el("span", { class: "mono" }, d.id)],
        ["Timer", el("a", { href: `#/timers/${encodeURIComponent(d.timerId)}`, class: "mono" }, d.timerId)],
        ["Action", `#${d.actionIndex} ${actionText(d.action)}`],
        ["Action (JSON)", d.action ? el("code", { class: "mono" }, toJsonString(ActionSchema, d.action)) : ""],
        ["Idempotency key", el("span", { class: "mono" }, d.idempotencyKey)],
        ["Attempts", String(d.attempts)],
        ["Last error", d.lastError],
        ["Created", when(d.createdAt)],
        ["Resolved", when(d.resolvedAt)],
        ["Replays", String(d.replays)],
      ]);
      this.opened = d.id;
      $("dl-detail").hidden = false;
      if (focus) $("dl-detail-title").focus();
    } catch (e) {
      showError($("dl-error"), e);
    }
  }

  private outcome(results: ReplayResult[], empty: string) {
    $("dl-outcomes").replaceChildren(
      ...(results.length
        ? results.map((r) => {
            const ok = r.result?.ok ?? false;
            return el(
              "li",
              { "data-id": r.deadLetter?.id ?? "", class: ok ? "ok" : "bad" },
              el("span", { class: "mono" }, r.deadLetter?.id ?? ""),
              `: ${ok ? "delivered" : "failed again"} after ${r.result?.attempts ?? 0} attempt${r.result?.attempts === 1 ? "" : "s"}`,
              r.result?.detail ? ` (${r.result.detail})` : "",
              r.timer ? `; timer ${r.timer.name || r.timer.id} is now ${statusName(r.timer.status)}` : "",
            );
          })
        : [el("li", {}, empty)]),
    );
    $("dl-outcome").hidden = false;
    $("dl-outcome-title").focus();
    if (this.opened && results.some((r) => r.deadLetter?.id === this.opened)) void this.open(this.opened, false);
  }

  async replay(id: string) {
    if (!this.session) return;
    clearError($("dl-error"));
    try {
      const result = await this.session.deadLetters.replayDeadLetter({ id });
      this.outcome([result], "");
    } catch (e) {
      showError($("dl-error"), e);
      return;
    }
    await this.list();
  }

  async replayAll() {
    if (!this.session) return;
    const form = $("dl-search");
    clearError($("dl-error"), form);
    try {
      const since = this.since();
      const { results } = await this.session.deadLetters.replayDeadLetters({ since });
      this.outcome(results, "no unresolved dead letters to replay");
    } catch (e) {
      showError($("dl-error"), e, form);
      return;
    }
    await this.list();
  }
}
