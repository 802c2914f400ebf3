// Errors as the server words them, with the field they name: gRPC's INVALID_ARGUMENT message is
// `field: what is wrong` (the REST body names it in fieldViolations). The named control of the
// form is marked invalid and focused, so a keyboard user lands where the fix goes.

import { Code, ConnectError } from "@connectrpc/connect";
import { RestError } from "./session";
import { el } from "./dom";

export interface Explained {
  code: string;
  message: string;
  field?: string;
}

const FIELD = /^([A-Za-z_][\w.]*(?:\[\d+\][\w.]*)*): /;

export function explain(error: unknown): Explained {
  if (error instanceof RestError) return { code: error.code, message: error.message, field: error.field };
  const e = ConnectError.from(error);
  const code = Code[e.code]
    .replace(/([a-z])([A-Z])/g, "$1_$2")
    .toUpperCase();
  const field = e.code === Code.InvalidArgument ? FIELD.exec(e.rawMessage)?.[1] : undefined;
  return { code, message: e.rawMessage, field };
}

const normal = (name: string) => name.replace(/[_\W]/g, "").toLowerCase();

/** Shows `error` in `target`; marks the control of `form` whose data-field is the named field. */
export function showError(target: HTMLElement, error: unknown, form?: HTMLElement) {
  const { code, message, field } = explain(error);
  clearError(target, form);
  const parts: (Node | string)[] = [el("span", { class: "code" }, code), ": "];
  if (field) {
    parts.push("field ", el("strong", {}, field), " — ");
    parts.push(message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message);
  } else {
    parts.push(message);
  }
  target.replaceChildren(...parts);
  target.dataset.code = code;
  if (field && form) {
    const wanted = normal(field.replace(/^.*\./, ""));
    const control = [...form.querySelectorAll<HTMLElement>("[data-field]")].find(
      (c) => normal(c.dataset.field ?? "") === wanted || normal(c.dataset.field ?? "") === normal(field),
    );
    if (control) {
      control.setAttribute("aria-invalid", "true");
      control.setAttribute("aria-describedby", target.id);
      control.focus();
    }
  }
}

export function clearError(target: HTMLElement, form?: HTMLElement) {
  target.replaceChildren();
  delete target.dataset.code;
  form?.querySelectorAll("[aria-invalid]").forEach((c) => {
    c.removeAttribute("aria-invalid");
    c.removeAttribute("aria-describedby");
  });
}

/** What retrying a stream cannot fix: shown, and the stream stops. */
export const FINAL = [Code.Unauthenticated, Code.PermissionDenied, Code.InvalidArgument, Code.OutOfRange, Code.NotFound];

/** How long a dropped stream waits before it reconnects. */
export const RETRY_MS = 1_000;

/** Waits `ms`; false when `signal` aborted meanwhile. */
export function retryAfter(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(!signal.aborted), ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve(false);
    }, { once: true });
  });
}
