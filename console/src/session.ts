// Who the console acts as: an API key (and optional tenant) kept in this tab's sessionStorage,
// never in a URL. Every call, gRPC-web or REST, carries it as any other client would, so the
// server's authorisation applies unchanged.

import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { DeadLetterService, TimerService } from "./gen/minoots/v1/timer_pb";

const KEY = "minoots.console.key";
const TENANT = "minoots.console.tenant";

export interface Session {
  tenant: string;
  timers: Client<typeof TimerService>;
  deadLetters: Client<typeof DeadLetterService>;
  /** Same-origin REST with the session's headers; throws {@link RestError} on a non-2xx answer. */
  rest: <T>(method: string, path: string, body?: unknown) => Promise<T>;
}

/** An error answer of the REST API: `{"error": {code, message, fieldViolations}}`. */
export class RestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export function stored(): { key: string; tenant: string } | undefined {
  const key = sessionStorage.getItem(KEY);
  return key ? { key, tenant: sessionStorage.getItem(TENANT) ?? "" } : undefined;
}

export function store(key: string, tenant: string) {
  sessionStorage.setItem(KEY, key);
  if (tenant) sessionStorage.setItem(TENANT, tenant);
  else sessionStorage.removeItem(TENANT);
}

export function forget() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(TENANT);
}

export function open(key: string, tenant: string): Session {
  const headers: Record<string, string> = { "x-api-key": key };
  if (tenant) headers["x-tenant-id"] = tenant;
  const auth: Interceptor = (next) => (req) => {
    for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
    return next(req);
  };
  // The page and the gateway share an origin: gRPC-web goes to this page's server.
  const transport = createGrpcWebTransport({ baseUrl: location.origin, interceptors: [auth] });
  return {
    tenant,
    timers: createClient(TimerService, transport),
    deadLetters: createClient(DeadLetterService, transport),
    rest: async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const response = await fetch(path, {
        method,
        headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
      const json = await response.json().catch(() => ({}));
      if (!response.ok) {
        const error = json?.error ?? {};
        throw new RestError(
          response.status,
          error.code ?? String(response.status),
          error.message ?? response.statusText,
          error.fieldViolations?.[0]?.field,
        );
      }
      return json as T;
    },
  };
}
