// One operation's live progress: the WebSocket, or polling when the socket is down; announced
// through a live region at each tenth and at every change of status.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { api } from "../api/endpoints";
import { errorText, invalidateCollection } from "../api/queries";
import type { Operation } from "../api/types";
import { isFinal } from "../api/types";
import {
  describeProgress,
  initialProgress,
  operationSocketUrl,
  OperationTracker,
  progressShare,
  type ProgressState,
} from "../lib/progress";
import { ErrorMessage } from "./ErrorMessage";

interface Props {
  /** The operation's collection, whose lists a cancel changes. */
  collectionId: string;
  operation: Operation;
  onFinished: (operation: Operation) => void;
  /** The progress in words (a chunking operation's by default). */
  describe?: (operation: Operation) => string;
  /** What the cancel button says. */
  cancelLabel?: string;
}

const TRANSPORT_TEXT: Record<string, string> = {
  connecting: "Connecting for live updates…",
  socket: "Live updates",
  polling: "Live connection unavailable: checking every second, reconnecting in the background",
  done: "Finished",
};

export function OperationProgress({
  collectionId,
  operation,
  onFinished,
  describe = describeProgress,
  cancelLabel = "Cancel operation",
}: Props) {
  const [state, setState] = useState<ProgressState>(() => initialProgress(operation));
  const tracker = useRef<OperationTracker | null>(null);
  const finished = useRef(false);
  const onFinishedRef = useRef(onFinished);
  onFinishedRef.current = onFinished;

  useEffect(() => {
    const t = new OperationTracker(
      operation.id,
      {
        openSocket: (id) => new WebSocket(operationSocketUrl(id)),
        fetchOperation: (id) => api.operation(id),
        onState: setState,
      },
      operation,
    );
    tracker.current = t;
    t.start();
    return () => t.stop();
    // The tracker follows one operation for its whole life.
  }, [operation.id]);

  const op = state.operation ?? operation;
  useEffect(() => {
    if (isFinal(op.status) && !finished.current) {
      finished.current = true;
      onFinishedRef.current(op);
    }
  }, [op]);

  const announcement = useAnnouncement(op, describe);
  const share = progressShare(op);
  const percent = Math.round(share * 100);

  const queryClient = useQueryClient();
  const cancel = useMutation({
    mutationFn: () => api.cancelOperation(operation.id),
    onSuccess: (cancelled) => {
      tracker.current?.report(cancelled);
      return invalidateCollection(queryClient, collectionId);
    },
  });

  return (
    <div className="operation-progress" data-operation={op.id} data-status={op.status} data-transport={state.transport}>
      <div className="progress-row">
        <progress max={100} value={percent} aria-label={`Progress of operation ${op.id.slice(0, 8)}`} />
        <span className="progress-percent">{percent}%</span>
      </div>
      <p className="progress-text">{describe(op)}</p>
      {op.error ? <p className="field-error">Reason: {op.error}</p> : null}
      <p className="muted transport">{TRANSPORT_TEXT[state.transport]}</p>
      {state.error && state.transport === "polling" ? <p className="muted">Last check failed: {state.error}</p> : null}
      <p className="visually-hidden" aria-live="polite" aria-atomic="true">
        {announcement}
      </p>
      {!isFinal(op.status) ? (
        <button type="button" onClick={() => cancel.mutate()} disabled={cancel.isPending}>
          {cancel.isPending ? "Cancelling…" : cancelLabel}
        </button>
      ) : null}
      <ErrorMessage error={errorText(cancel.error)} />
    </div>
  );
}

/** The progress sentence, changed only at each tenth or status change (not at every event). */
function useAnnouncement(op: Operation, describe: (operation: Operation) => string): string {
  const [text, setText] = useState(describe(op));
  const last = useRef({ status: op.status, tenth: Math.floor(progressShare(op) * 10) });
  useEffect(() => {
    const tenth = Math.floor(progressShare(op) * 10);
    if (op.status !== last.current.status || tenth !== last.current.tenth) {
      last.current = { status: op.status, tenth };
      setText(describe(op));
    }
  }, [op, describe]);
  return text;
}
