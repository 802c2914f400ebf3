// The package's API. Timer, TimerEvent, Schedule and the option types are generated from the Rust
// structs into native.d.ts by napi-rs.
import type {
  ActionResult,
  ConnectOptions,
  DeadLetter,
  DeadLettersOptions,
  ListOptions,
  ListSchedulesOptions,
  PreviewOptions,
  RecurringOptions,
  ReplayDeadLettersOptions,
  ReplayResult,
  Schedule,
  ScheduleList,
  ScheduleOptions,
  SchedulePreview,
  ScheduleUpdate,
  SelectOptions,
  SelectResult,
  StreamTimersOptions,
  TenantPause,
  Timer,
  TimerEvent,
  ToolSpec,
  UpdateOptions,
  WaitOptions,
} from './native'

export type {
  ActionResult,
  ConnectOptions,
  DeadLetter,
  DeadLettersOptions,
  ListOptions,
  ListSchedulesOptions,
  PreviewOptions,
  RecurringOptions,
  ReplayDeadLettersOptions,
  ReplayResult,
  Schedule,
  ScheduleList,
  ScheduleOptions,
  SchedulePreview,
  ScheduleUpdate,
  SelectOptions,
  SelectResult,
  StreamTimersOptions,
  TenantPause,
  Timer,
  TimerEvent,
  ToolSpec,
  UpdateOptions,
  WaitOptions,
}

/** Every rejection: `code` is the kind (NOT_FOUND, INVALID_ARGUMENT, UNAUTHENTICATED, ...). */
export interface MinootsError extends Error {
  code:
    | 'INVALID_ARGUMENT'
    | 'NOT_FOUND'
    | 'ALREADY_EXISTS'
    | 'FAILED_PRECONDITION'
    | 'ABORTED'
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
  /**
   * `url` defaults to MINOOTS_URL (or MINOOTS_API_URL), `options.apiKey` to MINOOTS_API_KEY and
   * `options.tenant` to MINOOTS_TENANT.
   */
  static connect(url?: string | null, options?: ConnectOptions): Promise<Client>
  static connect(options: ConnectOptions): Promise<Client>
  schedule(options: ScheduleOptions): Promise<Timer>
  /** One durable write; one invalid timer rejects them all. */
  scheduleMany(timers: ScheduleOptions[]): Promise<Timer[]>
  get(id: string): Promise<Timer>
  list(options?: ListOptions): Promise<Timer[]>
  cancel(id: string, reason?: string): Promise<Timer>
  /** Changes a pending timer by `id` or `idempotencyKey`; a stale `expectedStateVersion` rejects with ABORTED. */
  update(options: UpdateOptions): Promise<Timer>
  getByKey(idempotencyKey: string): Promise<Timer>
  cancelByKey(idempotencyKey: string, reason?: string): Promise<Timer>
  /** Holds a pending timer (status `paused`) until `resume`. */
  pause(id: string, reason?: string): Promise<Timer>
  resume(id: string): Promise<Timer>
  /** With `dryRun`, only counts: `{ matched, changed: 0 }`. */
  cancelTimers(options: SelectOptions): Promise<SelectResult>
  pauseTimers(options: SelectOptions): Promise<SelectResult>
  resumeTimers(options: SelectOptions): Promise<SelectResult>
  /** Pauses the tenant's deliveries (a tenant admin key) until `resumeTenant`. */
  pauseTenant(reason?: string): Promise<TenantPause>
  resumeTenant(): Promise<TenantPause>
  tenantPause(): Promise<TenantPause>
  waitFor(id: string, options?: WaitOptions): Promise<Timer>
  /** Creates a recurring schedule (`cron` or `interval`); each occurrence is an ordinary timer. */
  createSchedule(options: RecurringOptions): Promise<Schedule>
  getSchedule(id: string): Promise<Schedule>
  getScheduleByKey(idempotencyKey: string): Promise<Schedule>
  /** One page; pass `nextPageToken` back as `pageToken` for the next. */
  listSchedules(options?: ListSchedulesOptions): Promise<ScheduleList>
  /** From the next occurrence on; a stale `expectedVersion` rejects with ABORTED. */
  updateSchedule(update: ScheduleUpdate): Promise<Schedule>
  /** No occurrence is created until `resumeSchedule` (state `paused`). */
  pauseSchedule(id: string, reason?: string): Promise<Schedule>
  resumeSchedule(id: string): Promise<Schedule>
  /** Stops the schedule for good (state `deleted`) and cancels its pending occurrence. */
  deleteSchedule(id: string): Promise<Schedule>
  /** The next occurrences of a stored schedule (its id) or of options not yet created. */
  previewSchedule(of: string | RecurringOptions, options?: PreviewOptions): Promise<SchedulePreview>
  deadLetters(options?: DeadLettersOptions): Promise<DeadLetter[]>
  deadLetter(id: string): Promise<DeadLetter>
  /** Runs the dead-lettered action again, with its original idempotency key. */
  replayDeadLetter(id: string): Promise<ReplayResult>
  replayDeadLetters(options?: ReplayDeadLettersOptions): Promise<ReplayResult[]>
  /** Runs an agent tool (see `toolSpecs()`); resolves with its JSON result. */
  callTool(name: string, args?: Record<string, unknown>): Promise<any>
  stream(options?: StreamTimersOptions): AsyncGenerator<TimerEvent, void, undefined>
  streamTimers(options: StreamTimersCallbacks): StreamTimersHandle
}

/** The original SDK's envelope, as `MinootsSDK.streamTimers` hands it to `onEvent`. */
export interface MinootsSDKEvent {
  type: string
  data: { event: TimerEvent }
}

/**
 * The original JS SDK's name, kept for code written for it: connects on first use; new code
 * should use `Client`.
 */
export class MinootsSDK {
  constructor(options?: { baseURL?: string; apiKey?: string; tenantId?: string; region?: string; caCertificate?: string })
  scheduleTimer(options: ScheduleOptions): Promise<Timer>
  getTimer(id: string): Promise<Timer>
  listTimers(options?: ListOptions): Promise<Timer[]>
  cancelTimer(id: string, reason?: string): Promise<Timer>
  streamTimers(
    options: Omit<StreamTimersCallbacks, 'onEvent'> & { onEvent: (event: MinootsSDKEvent) => void | Promise<void> },
  ): Promise<StreamTimersHandle>
}

/** Throws a MinootsError with code INVALID_SIGNATURE naming the header at fault. */
export function verifyWebhook(
  secrets: string | string[],
  headers: Record<string, string>,
  body: Buffer | string,
): void

/** `"1h30m"` in milliseconds. */
export function parseDuration(text: string): number

/** `"team=core,env=prod"` (commas or newlines) or a JSON object; throws INVALID_ARGUMENT naming the bad entry. */
export function parseLabels(text: string): Record<string, string>

/** The agent tools (timers, and recurring schedules: create_schedule ... preview_schedule) with JSON Schema arguments. */
export function toolSpecs(): ToolSpec[]
