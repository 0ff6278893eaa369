import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Operation } from "../api/types";
import {
  backoffDelay,
  describeProgress,
  initialProgress,
  isNewer,
  OperationTracker,
  progressReducer,
  progressShare,
  type ProgressState,
  type SocketLike,
} from "./progress";

function op(patch: Partial<Operation> = {}): Operation {
  return {
    id: "op-1",
    kind: "chunking",
    status: "running",
    documents_total: 4,
    documents_done: 0,
    documents_failed: 0,
    chunks_created: 0,
    error: null,
    created_at: "2026-01-01T00:00:00Z",
    finished_at: null,
    ...patch,
  };
}

describe("progressReducer", () => {
  it("takes newer progress and ignores late, older events", () => {
    let state = initialProgress(op({ status: "pending" }));
    state = progressReducer(state, { type: "socket-open" });
    state = progressReducer(state, { type: "socket-event", operation: op({ documents_done: 2, chunks_created: 20 }) });
    expect(state.operation?.documents_done).toBe(2);
    // A poll answered late, with older numbers: progress never goes backwards.
    state = progressReducer(state, { type: "polled", operation: op({ documents_done: 1, chunks_created: 10 }) });
    expect(state.operation?.documents_done).toBe(2);
    expect(state.transport).toBe("socket");
  });

  it("keeps a final state and stops there", () => {
    let state = initialProgress(op());
    state = progressReducer(state, { type: "socket-event", operation: op({ status: "cancelled", documents_done: 1 }) });
    expect(state.transport).toBe("done");
    const after = progressReducer(state, { type: "polled", operation: op({ status: "running", documents_done: 3 }) });
    expect(after).toBe(state);
    expect(isNewer(op({ status: "completed" }), op({ status: "running", documents_done: 4 }))).toBe(false);
  });

  it("falls back to polling when the socket is lost, counting failures for the backoff", () => {
    let state: ProgressState = initialProgress(op());
    state = progressReducer(state, { type: "socket-lost" });
    state = progressReducer(state, { type: "socket-lost" });
    expect(state).toMatchObject({ transport: "polling", failures: 2 });
    state = progressReducer(state, { type: "poll-failed", detail: "the server cannot be reached" });
    expect(state.error).toBe("the server cannot be reached");
    state = progressReducer(state, { type: "polled", operation: op({ documents_done: 1 }) });
    expect(state.error).toBeNull();
    state = progressReducer(state, { type: "socket-open" });
    expect(state).toMatchObject({ transport: "socket", failures: 0 });
  });

  it("starts done for an operation that already finished", () => {
    expect(initialProgress(op({ status: "completed" })).transport).toBe("done");
  });
});

describe("backoffDelay and progressShare", () => {
  it("doubles from 1 s to a 30 s ceiling, with at most 20% jitter", () => {
    expect([1, 2, 3, 4, 5, 6, 10].map((n) => backoffDelay(n, () => 1))).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000,
    ]);
    expect(backoffDelay(1, () => 0)).toBe(800);
  });

  it("counts failed documents as finished work", () => {
    expect(progressShare(op({ documents_done: 1, documents_failed: 1 }))).toBe(0.5);
    expect(progressShare(op({ status: "completed", documents_total: 0 }))).toBe(1);
  });

  it("never shows a completed operation whose documents partly failed as a clean success", () => {
    const clean = op({ status: "completed", documents_done: 4 });
    const partly = op({ status: "completed", documents_done: 3, documents_failed: 1 });
    expect(describeProgress(clean)).toMatch(/^Completed: 100%/);
    expect(describeProgress(partly)).toMatch(/^Completed with failures: 100%.*1 failed$/);
  });
});

class FakeSocket implements SocketLike {
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  closed = false;
  close() {
    this.closed = true;
  }
  open() {
    this.onopen?.(new Event("open"));
  }
  send(operation: Operation, type = "progress") {
    this.onmessage?.(new MessageEvent("message", { data: JSON.stringify({ type, operation }) }));
  }
  fail() {
    this.onerror?.(new Event("error"));
    this.onclose?.(new CloseEvent("close", { code: 1006 }));
  }
}

describe("OperationTracker", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function setup(fetchOperation: (id: string) => Promise<Operation>) {
    const sockets: FakeSocket[] = [];
    const states: ProgressState[] = [];
    const tracker = new OperationTracker(
      "op-1",
      {
        openSocket: () => {
          const s = new FakeSocket();
          sockets.push(s);
          return s;
        },
        fetchOperation,
        onState: (s) => states.push(s),
        pollIntervalMs: 1000,
        random: () => 1,
      },
      op({ status: "pending" }),
    );
    return { tracker, sockets, states };
  }

  it("follows the socket to the final event, then closes it", async () => {
    const fetchOperation = vi.fn();
    const { tracker, sockets, states } = setup(fetchOperation);
    tracker.start();
    sockets[0]!.open();
    sockets[0]!.send(op({ documents_done: 2, chunks_created: 7 }));
    sockets[0]!.send(op({ status: "completed", documents_done: 4, chunks_created: 15 }), "completed");
    expect(states.at(-1)).toMatchObject({ transport: "done", operation: { status: "completed", chunks_created: 15 } });
    expect(sockets[0]!.closed).toBe(true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(fetchOperation).not.toHaveBeenCalled();
    expect(sockets).toHaveLength(1);
  });

  it("polls while the socket cannot connect, reconnects with backoff, and stops polling once it is back", async () => {
    let done = 0;
    const fetchOperation = vi.fn(async () => op({ documents_done: Math.min(4, ++done) }));
    const { tracker, sockets, states } = setup(fetchOperation);
    tracker.start();
    sockets[0]!.fail(); // blocked: no handshake
    expect(tracker.current.transport).toBe("polling");
    await vi.advanceTimersByTimeAsync(0);
    expect(fetchOperation).toHaveBeenCalledTimes(1);
    expect(states.at(-1)?.operation?.documents_done).toBe(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(sockets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets).toHaveLength(2); // reconnected after 1 s (first backoff)
    expect(fetchOperation).toHaveBeenCalledTimes(2);
    sockets[1]!.fail();
    await vi.advanceTimersByTimeAsync(1999);
    expect(sockets).toHaveLength(2); // the second backoff is 2 s
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets).toHaveLength(3);
    sockets[2]!.open();
    const polls = fetchOperation.mock.calls.length;
    await vi.advanceTimersByTimeAsync(5000);
    expect(fetchOperation).toHaveBeenCalledTimes(polls); // polling stopped while the socket is up
    expect(tracker.current.transport).toBe("socket");
    tracker.stop();
  });

  it("reaches the end by polling alone when the socket never comes back", async () => {
    let done = 0;
    const fetchOperation = vi.fn(async () => {
      done++;
      return done >= 3 ? op({ status: "completed", documents_done: 4 }) : op({ documents_done: done });
    });
    const { tracker, sockets } = setup(fetchOperation);
    tracker.start();
    sockets[0]!.fail();
    for (let k = 0; k < 10 && tracker.current.transport !== "done"; k++) {
      await vi.advanceTimersByTimeAsync(1000);
      for (const s of sockets) if (!s.closed && s.onclose) s.fail();
    }
    expect(tracker.current).toMatchObject({ transport: "done", operation: { status: "completed" } });
    const count = fetchOperation.mock.calls.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(fetchOperation).toHaveBeenCalledTimes(count);
  });

  it("gives up polling on a 404 (the operation is gone)", async () => {
    const fetchOperation = vi.fn(async () => {
      throw Object.assign(new Error("operation op-1 not found"), { status: 404 });
    });
    const { tracker, sockets } = setup(fetchOperation);
    tracker.start();
    sockets[0]!.fail();
    await vi.advanceTimersByTimeAsync(0);
    expect(tracker.current.error).toBe("operation op-1 not found");
    await vi.advanceTimersByTimeAsync(60_000);
    expect(fetchOperation).toHaveBeenCalledTimes(1);
    expect(sockets).toHaveLength(1);
  });
});
