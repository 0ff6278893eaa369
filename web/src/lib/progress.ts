// Live progress of a chunking operation: the WebSocket first, polling `GET /operations/{id}`
// whenever the socket cannot connect or drops, and reconnection with exponential backoff.
// The reducer is pure (tested on its own); `OperationTracker` wires sockets and timers.
import type { Operation } from "../api/types";
import { isFinal } from "../api/types";

export type Transport = "connecting" | "socket" | "polling" | "done";

export interface ProgressState {
  operation: Operation | null;
  transport: Transport;
  /** Consecutive socket failures; drives the reconnect backoff. */
  failures: number;
  /** The last polling error, if the last poll failed. */
  error: string | null;
}

export type ProgressAction =
  | { type: "socket-open" }
  | { type: "socket-event"; operation: Operation }
  | { type: "socket-lost" }
  | { type: "polled"; operation: Operation }
  | { type: "poll-failed"; detail: string };

export function initialProgress(operation: Operation | null = null): ProgressState {
  const done = operation !== null && isFinal(operation.status);
  return { operation, transport: done ? "done" : "connecting", failures: 0, error: null };
}

const STATUS_RANK: Record<string, number> = {
  pending: 0,
  running: 1,
  completed: 2,
  failed: 2,
  cancelled: 2,
};

function work(op: Operation): number {
  return op.documents_done + op.documents_failed;
}

/**
 * Whether `next` is at least as far along as `current`. Events can arrive out of order (a
 * poll answered after a newer socket event): progress never goes backwards, and a final
 * state is never replaced.
 */
export function isNewer(current: Operation | null, next: Operation): boolean {
  if (current === null || current.id !== next.id) return true;
  if (isFinal(current.status)) return false;
  const rank = (STATUS_RANK[next.status] ?? 0) - (STATUS_RANK[current.status] ?? 0);
  if (rank !== 0) return rank > 0;
  if (work(next) !== work(current)) return work(next) > work(current);
  return next.chunks_created >= current.chunks_created;
}

function accept(state: ProgressState, operation: Operation): ProgressState {
  if (!isNewer(state.operation, operation)) return state;
  const transport = isFinal(operation.status) ? "done" : state.transport;
  return { ...state, operation, transport };
}

export function progressReducer(state: ProgressState, action: ProgressAction): ProgressState {
  if (state.transport === "done") {
    return state;
  }
  switch (action.type) {
    case "socket-open":
      return { ...state, transport: "socket", failures: 0, error: null };
    case "socket-event":
      return accept({ ...state, transport: "socket", error: null }, action.operation);
    case "socket-lost":
      return { ...state, transport: "polling", failures: state.failures + 1 };
    case "polled":
      return accept({ ...state, error: null }, action.operation);
    case "poll-failed":
      return { ...state, error: action.detail };
  }
}

/** Milliseconds before reconnect attempt number `failures` (1, 2, ...): 1 s doubling to 30 s,
 * with up to 20% jitter so many tabs do not reconnect in step. */
export function backoffDelay(failures: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.8 + 0.2 * random()));
}

/** Share of the documents finished (done or failed), 0..1; 1 for a finished operation. */
export function progressShare(op: Operation): number {
  if (op.status === "completed") return 1;
  if (op.documents_total <= 0) return isFinal(op.status) ? 1 : 0;
  return Math.min(1, work(op) / op.documents_total);
}

export function describeProgress(op: Operation): string {
  const percent = Math.round(progressShare(op) * 100);
  const parts = [
    `${percent}%`,
    `${op.documents_done} of ${op.documents_total} documents done`,
    `${op.chunks_created} chunks created`,
  ];
  if (op.documents_failed > 0) parts.push(`${op.documents_failed} failed`);
  const word = op.status === "completed" && op.documents_failed > 0
    ? "Completed with failures"
    : statusWord(op.status);
  return `${word}: ${parts.join(", ")}`;
}

export function statusWord(status: string): string {
  switch (status) {
    case "pending":
      return "Waiting to start";
    case "running":
      return "Running";
    case "completed":
      return "Completed";
    case "failed":
      return "Failed";
    case "cancelled":
      return "Cancelled";
    case "chunked":
      return "Chunked";
    case "processing":
      return "Processing";
    default:
      return status;
  }
}

// -- the tracker ---------------------------------------------------------------------------

/** The part of a WebSocket the tracker uses (a fake in tests). */
export interface SocketLike {
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  close(): void;
}

export interface TrackerDeps {
  openSocket(operationId: string): SocketLike;
  fetchOperation(operationId: string): Promise<Operation>;
  onState(state: ProgressState): void;
  pollIntervalMs?: number;
  random?: () => number;
}

export class OperationTracker {
  private state: ProgressState;
  private socket: SocketLike | null = null;
  private pollTimer: ReturnType<typeof setTimeout> | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private readonly pollIntervalMs: number;

  constructor(
    private readonly operationId: string,
    private readonly deps: TrackerDeps,
    initial: Operation | null = null,
  ) {
    this.state = initialProgress(initial);
    this.pollIntervalMs = deps.pollIntervalMs ?? 1000;
  }

  get current(): ProgressState {
    return this.state;
  }

  start(): void {
    if (this.state.transport === "done") {
      this.deps.onState(this.state);
      return;
    }
    this.connect();
  }

  /** An operation read elsewhere (e.g. the answer to a cancel): taken if it is newer. */
  report(operation: Operation): void {
    this.dispatch({ type: "polled", operation });
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
    this.closeSocket();
  }

  private dispatch(action: ProgressAction): void {
    if (this.stopped) return;
    const next = progressReducer(this.state, action);
    if (next === this.state) return;
    this.state = next;
    this.deps.onState(next);
    if (next.transport === "done") this.stop();
  }

  private connect(): void {
    let socket: SocketLike;
    try {
      socket = this.deps.openSocket(this.operationId);
    } catch {
      this.socketLost(null);
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.stopPolling();
      this.dispatch({ type: "socket-open" });
    };
    socket.onmessage = (ev: MessageEvent) => {
      if (this.socket !== socket) return;
      const operation = parseEvent(ev.data);
      if (operation) this.dispatch({ type: "socket-event", operation });
    };
    socket.onerror = () => {
      // A close always follows an error; act once, there.
    };
    socket.onclose = () => this.socketLost(socket);
  }

  private socketLost(socket: SocketLike | null): void {
    if (socket !== null && this.socket !== socket) return;
    this.socket = null;
    if (this.stopped || this.state.transport === "done") return;
    this.dispatch({ type: "socket-lost" });
    this.startPolling();
    const delay = backoffDelay(this.state.failures, this.deps.random);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.stopped) this.connect();
    }, delay);
  }

  private startPolling(): void {
    if (this.pollTimer !== null || this.stopped) return;
    const tick = async () => {
      try {
        const operation = await this.deps.fetchOperation(this.operationId);
        this.dispatch({ type: "polled", operation });
      } catch (err) {
        const detail = err instanceof Error ? err.message : "the operation could not be read";
        this.dispatch({ type: "poll-failed", detail });
        const status = (err as { status?: unknown } | null)?.status;
        if (status === 401 || status === 404) {
          // Signed out, or the operation is gone: polling again cannot help.
          this.stop();
          return;
        }
      }
      if (this.pollTimer !== null && !this.stopped) {
        this.pollTimer = setTimeout(tick, this.pollIntervalMs);
      }
    };
    // The first poll right away: the socket may have dropped just before the final event.
    this.pollTimer = setTimeout(tick, 0);
  }

  private stopPolling(): void {
    if (this.pollTimer !== null) clearTimeout(this.pollTimer);
    this.pollTimer = null;
  }

  private clearTimers(): void {
    this.stopPolling();
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private closeSocket(): void {
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onerror = null;
      socket.onclose = null;
      try {
        socket.close();
      } catch {
        // already closed
      }
    }
  }
}

/** The operation of a socket message `{type, operation}`, or null for anything else. */
export function parseEvent(data: unknown): Operation | null {
  if (typeof data !== "string") return null;
  try {
    const parsed = JSON.parse(data) as { type?: unknown; operation?: unknown };
    const op = parsed.operation as Operation | undefined;
    if (op && typeof op === "object" && typeof op.id === "string" && typeof op.status === "string") {
      return op;
    }
  } catch {
    // ignore malformed messages
  }
  return null;
}

export function operationSocketUrl(operationId: string, location: Location = window.location): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/api/v1/operations/${encodeURIComponent(operationId)}/ws`;
}
