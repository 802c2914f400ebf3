// The MINOOTS console, served by the gateway at /ui. A client like any other: it signs in with an
// API key (kept in sessionStorage), calls the gateway's gRPC-web services and REST API on this
// origin, and the server decides what that key may do. Views are routed by the URL's hash
// (#/timers, #/timers/<id>, #/live, #/dead-letters, #/health, #/admin); a key never goes in a URL.

import { $ } from "./dom";
import { clearError, showError } from "./errors";
import { AdminView } from "./admin";
import { DeadLettersView } from "./deadletters";
import { HealthView } from "./health";
import { LiveView } from "./live";
import * as session from "./session";
import { TimersView } from "./timers";

const VIEWS = ["timers", "live", "dead-letters", "health", "admin"] as const;
type View = (typeof VIEWS)[number];

const timers = new TimersView();
const live = new LiveView();
const deadLetters = new DeadLettersView();
const health = new HealthView();
const admin = new AdminView();
let current: session.Session | undefined;
let isAdmin = false;

function showSection(id: string) {
  for (const section of document.querySelectorAll<HTMLElement>("main > section")) {
    section.hidden = section.id !== id;
  }
}

async function route() {
  if (!current) {
    showSection("view-sign-in");
    return;
  }
  const [, name = "timers", id] = location.hash.split("/");
  let view: View = (VIEWS as readonly string[]).includes(name) ? (name as View) : "timers";
  if (view === "admin" && !isAdmin) view = "timers";
  showSection(`view-${view}`);
  for (const link of document.querySelectorAll<HTMLAnchorElement>("#nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${$(`view-${view}`).querySelector("h2")?.firstChild?.textContent?.trim()} · MINOOTS console`;
  if (view === "health") await health.show();
  else health.hide();
  if (view === "timers") await timers.show(id ? decodeURIComponent(id) : undefined);
  if (view === "dead-letters") await deadLetters.show();
  if (view === "admin") await admin.show();
}

async function signIn(key: string, tenant: string): Promise<boolean> {
  const s = session.open(key, tenant);
  const error = $("sign-in-error");
  clearError(error);
  try {
    // The key must at least read timers: the console's first view needs it.
    await s.timers.listTimers({ pageSize: 1 });
  } catch (e) {
    showError(error, e, $("sign-in-form"));
    return false;
  }
  session.store(key, tenant);
  current = s;
  isAdmin = await admin.signIn(s);
  $("nav-admin").hidden = !isAdmin;
  $("nav").hidden = false;
  $("who").hidden = false;
  $("who-tenant").textContent = tenant ? `tenant ${tenant}` : "the key's tenant";
  timers.signIn(s);
  live.signIn(s);
  deadLetters.signIn(s);
  health.signIn();
  return true;
}

function signOut() {
  session.forget();
  current = undefined;
  isAdmin = false;
  timers.signOut();
  live.signOut();
  deadLetters.signOut();
  health.signOut();
  admin.signOut();
  $("nav").hidden = true;
  $("who").hidden = true;
  $<HTMLInputElement>("sign-in-key").value = "";
  history.replaceState(null, "", location.pathname);
  void route();
  $("sign-in-key").focus();
}

$<HTMLFormElement>("sign-in-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const key = $<HTMLInputElement>("sign-in-key").value;
  const tenant = $<HTMLInputElement>("sign-in-tenant").value.trim();
  if (await signIn(key, tenant)) {
    $<HTMLInputElement>("sign-in-key").value = "";
    if (!location.hash || location.hash === "#/") location.hash = "#/timers";
    else await route();
    $("main").focus();
  }
};
$("sign-out").onclick = signOut;
window.addEventListener("hashchange", () => void route().then(() => $("main").focus()));

const saved = session.stored();
if (saved) {
  void signIn(saved.key, saved.tenant).then(() => route());
} else {
  void route();
}
