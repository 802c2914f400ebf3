// Small DOM helpers: every text goes in as textContent (never HTML), so nothing a timer carries
// (names, labels, error details) can inject markup under the console's CSP.

import { Code, ConnectError } from "@connectrpc/connect";
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";

export const $ = <T extends HTMLElement = HTMLElement>(id: string) => {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from index.html`);
  return found as T;
};

type Child = Node | string | null | undefined | false;

/** `el("td", { class: "mono" }, "text", child)`. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

/** Table rows whose cells carry their column's heading (`data-label`) for the narrow layout. */
export function fillTable(tbody: HTMLElement, rows: HTMLTableRowElement[]) {
  for (const row of rows) label(tbody, row);
  tbody.replaceChildren(...rows);
}

/** Replaces one row of a table filled by {@link fillTable}. */
export function replaceRow(old: HTMLTableRowElement, row: HTMLTableRowElement) {
  if (old.parentElement) label(old.parentElement, row);
  old.replaceWith(row);
}

function label(tbody: HTMLElement, row: HTMLTableRowElement) {
  const headings = [...(tbody.closest("table")?.querySelectorAll("thead th") ?? [])].map(
    (th) => th.textContent ?? "",
  );
  [...row.cells].forEach((cell, i) => cell.setAttribute("data-label", headings[i] ?? ""));
}

export function fields(dl: HTMLElement, entries: [string, Child][]) {
  dl.replaceChildren(
    ...entries.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value || "–")]),
  );
}

export const iso = (t: Timestamp | undefined) => (t ? timestampDate(t).toISOString() : "");

export function when(t: Timestamp | undefined): Child {
  if (!t) return "";
  const date = timestampDate(t);
  return el("time", { datetime: date.toISOString() }, date.toISOString().replace("T", " ").replace("Z", " UTC"));
}

export const labelsText = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");

export function checked(form: HTMLFormElement, name: string): string[] {
  return [...form.querySelectorAll<HTMLInputElement>(`input[name="${name}"]:checked`)].map((i) => i.value);
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$/;

/** An RFC 3339 instant typed into `field`; refused (INVALID_ARGUMENT naming it) otherwise. */
export function instant(field: string, text: string): Timestamp {
  const date = new Date(text);
  if (!RFC3339.test(text) || Number.isNaN(date.getTime())) {
    throw new ConnectError(`${field}: "${text}" is not an RFC 3339 time (2026-12-01T09:00:00Z)`, Code.InvalidArgument);
  }
  return timestampFromDate(date);
}
