// The typed API client: openapi-fetch over the generated `paths`, same-origin cookies, and
// one error type carrying the server's `{error, detail}` body.
import createClient from "openapi-fetch";
import { humanizeError } from "../lib/errors";
import type { paths } from "./schema";

export const API_PREFIX = "/api/v1";

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;

  constructor(status: number, code: string, detail: string) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

type UnauthorizedListener = () => void;
const unauthorizedListeners = new Set<UnauthorizedListener>();

/** Called whenever the server answers 401 (the session expired or was never there). */
export function onUnauthorized(listener: UnauthorizedListener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

export function notifyUnauthorized(): void {
  for (const listener of unauthorizedListeners) listener();
}

/** The server's error body as an ApiError; anything else as a sentence with the status. */
export function errorFromBody(status: number, body: unknown, fallback?: string): ApiError {
  if (body && typeof body === "object") {
    const { error, detail } = body as { error?: unknown; detail?: unknown };
    if (typeof detail === "string" && detail) {
      return new ApiError(status, typeof error === "string" ? error : "error", detail);
    }
  }
  const text = typeof body === "string" && body.trim() ? body.trim().slice(0, 300) : null;
  return new ApiError(status, "error", text ?? fallback ?? `the server answered ${status}`);
}

export const client = createClient<paths>({
  baseUrl: "",
  credentials: "same-origin",
  headers: { Accept: "application/json" },
});

interface Result<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * Await an openapi-fetch call and return its data, or throw an ApiError with the server's
 * `detail`. A 401 (except from the login itself) tells the session it has ended.
 */
export async function call<T>(request: Promise<Result<T>>): Promise<T> {
  let result: Result<T>;
  try {
    result = await request;
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw new ApiError(0, "network", "The server cannot be reached; check the connection and retry.");
  }
  const { data, error, response } = result;
  if (!response.ok) {
    if (response.status === 401 && !response.url.endsWith(`${API_PREFIX}/auth/login`)) {
      notifyUnauthorized();
    }
    throw errorFromBody(response.status, error);
  }
  return data as T;
}

/** An error as the sentences to show: the server's `detail` without field paths or raw ids. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) return humanizeError(err.detail);
  if (err instanceof Error && err.message) return err.message;
  return "Something went wrong.";
}
