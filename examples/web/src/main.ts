// The MINOOTS browser client: gRPC-web (connect-web) straight to the gateway, which serves
// gRPC-web with CORS on its one port. Lists the tenant's timers, schedules and cancels them, and
// shows live events, resuming after the last sequence when the stream drops.

import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { TimerEventType, TimerService, TimerStatus, type Timer } from "./gen/minoots/v1/timer_pb";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);

let client: Client<typeof TimerService> | undefined;
let streaming: AbortController | undefined;
const timers = new Map<string, Timer>();

const statusName = (s: TimerStatus) => TimerStatus[s].toLowerCase();
const eventName = (t: TimerEventType) => `timer.${TimerEventType[t].toLowerCase()}`;
const when = (t: Timer) => (t.fireAt ? timestampDate(t.fireAt).toISOString() : "");

function showError(error: unknown) {
  const e = ConnectError.from(error);
  $("error").textContent = `${Code[e.code]}: ${e.rawMessage}`;
}

function render() {
  const rows = [...timers.values()].sort((a, b) => when(b).localeCompare(when(a)));
  const body = $("timers");
  body.replaceChildren(
    ...rows.map((t) => {
      const tr = document.createElement("tr");
      tr.dataset.id = t.id;
      const cells = [t.name, statusName(t.status), when(t), t.id].map((text, i) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (i === 1) td.className = "status";
        return td;
      });
      const action = document.createElement("td");
      if (t.status === TimerStatus.SCHEDULED || t.status === TimerStatus.ARMED) {
        const cancel = document.createElement("button");
        cancel.textContent = "Cancel";
        cancel.className = "cancel";
        cancel.onclick = () => cancelTimer(t.id);
        action.append(cancel);
      }
      tr.append(...cells, action);
      return tr;
    }),
  );
}

async function refresh() {
  if (!client) return;
  timers.clear();
  let pageToken = "";
  do {
    const page = await client.listTimers({ pageSize: 500, pageToken });
    for (const t of page.timers) timers.set(t.id, t);
    pageToken = page.nextPageToken;
  } while (pageToken);
  render();
}

async function cancelTimer(id: string) {
  try {
    const { timer } = await client!.cancelTimer({ id, reason: "cancelled in the browser" });
    if (timer) timers.set(timer.id, timer);
    render();
  } catch (e) {
    showError(e);
  }
}

/** Live events; after a drop, reconnects and resumes after the last sequence seen. */
async function stream(signal: AbortSignal) {
  let after: bigint | undefined;
  while (!signal.aborted) {
    try {
      $("state").textContent = "live";
      for await (const event of client!.streamTimerEvents({ afterSequence: after }, { signal })) {
        after = event.sequence;
        if (event.timer) timers.set(event.timer.id, event.timer);
        const li = document.createElement("li");
        li.textContent = `#${event.sequence} ${eventName(event.eventType)} ${event.timer?.name ?? ""} ${event.timerId}`;
        $("events").prepend(li);
        render();
      }
    } catch (e) {
      if (signal.aborted) return;
      const error = ConnectError.from(e);
      if (error.code === Code.Unauthenticated || error.code === Code.PermissionDenied) {
        showError(error);
        $("state").textContent = "disconnected";
        return;
      }
    }
    $("state").textContent = "reconnecting";
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function connect() {
  streaming?.abort();
  $("error").textContent = "";
  const headers: Record<string, string> = { "x-api-key": input("api-key").value };
  if (input("tenant").value) headers["x-tenant-id"] = input("tenant").value;
  const auth: Interceptor = (next) => (req) => {
    for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
    return next(req);
  };
  const transport = createGrpcWebTransport({ baseUrl: input("server").value.replace(/\/$/, ""), interceptors: [auth] });
  client = createClient(TimerService, transport);
  try {
    await refresh();
  } catch (e) {
    showError(e);
    return;
  }
  streaming = new AbortController();
  void stream(streaming.signal);
}

$("connect").onclick = () => void connect();
$<HTMLFormElement>("create").onsubmit = async (ev) => {
  ev.preventDefault();
  if (!client) return showError(new ConnectError("connect first", Code.FailedPrecondition));
  const seconds = Number(input("seconds").value);
  try {
    const { timer } = await client.scheduleTimer({
      name: input("name").value,
      requestedBy: "minoots-web",
      schedule: {
        case: "duration",
        value: { seconds: BigInt(Math.floor(seconds)), nanos: Math.round((seconds % 1) * 1e9) },
      },
    });
    if (timer) timers.set(timer.id, timer);
    $("error").textContent = "";
    render();
  } catch (e) {
    showError(e);
  }
};

// ?server=...&key=...&tenant=... fills the form and connects.
const params = new URLSearchParams(location.search);
if (params.get("server")) input("server").value = params.get("server")!;
if (params.get("key")) input("api-key").value = params.get("key")!;
if (params.get("tenant")) input("tenant").value = params.get("tenant")!;
if (params.get("key")) void connect();
