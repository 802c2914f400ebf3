// The package's API. Timer, TimerEvent and the option types are generated from the Rust
// structs into native.d.ts by napi-rs.
import type {
  ConnectOptions,
  ListOptions,
  ScheduleOptions,
  StreamTimersOptions,
  Timer,
  TimerEvent,
  WaitOptions,
} from './native'

export type {
  ConnectOptions,
  ListOptions,
  ScheduleOptions,
  StreamTimersOptions,
  Timer,
  TimerEvent,
  WaitOptions,
}

/** Every rejection: `code` is the kind (NOT_FOUND, INVALID_ARGUMENT, UNAUTHENTICATED, ...). */
export interface MinootsError extends Error {
  code:
    | 'INVALID_ARGUMENT'
    | 'NOT_FOUND'
    | 'ALREADY_EXISTS'
    | 'FAILED_PRECONDITION'
    | 'OUT_OF_RANGE'
    | 'UNAUTHENTICATED'
    | 'PERMISSION_DENIED'
    | 'QUOTA_EXCEEDED'
    | 'UNAVAILABLE'
    | 'TRANSPORT'
    | 'DEADLINE_EXCEEDED'
    | 'INVALID_SIGNATURE'
    | 'INTERNAL'
}

export interface StreamTimersHandle {
  /** Ends the stream; `done` then resolves. */
  close(): void
  /** Settles when the stream ends. */
  done: Promise<void>
}

export interface StreamTimersCallbacks extends StreamTimersOptions {
  onEvent: (event: TimerEvent) => void | Promise<void>
  onError?: (error: MinootsError) => void
  signal?: AbortSignal
}

export class Client {
  static connect(url: string, options?: ConnectOptions): Promise<Client>
  schedule(options: ScheduleOptions): Promise<Timer>
  get(id: string): Promise<Timer>
  list(options?: ListOptions): Promise<Timer[]>
  cancel(id: string, reason?: string): Promise<Timer>
  waitFor(id: string, options?: WaitOptions): Promise<Timer>
  stream(options?: StreamTimersOptions): AsyncGenerator<TimerEvent, void, undefined>
  streamTimers(options: StreamTimersCallbacks): StreamTimersHandle
}

/** Throws a MinootsError with code INVALID_SIGNATURE naming the header at fault. */
export function verifyWebhook(
  secrets: string | string[],
  headers: Record<string, string>,
  body: Buffer | string,
): void

/** `"1h30m"` in milliseconds. */
export function parseDuration(text: string): number
