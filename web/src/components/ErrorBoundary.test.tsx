import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import { ErrorBoundary } from "./ErrorBoundary";

describe("ErrorBoundary", () => {
  it("shows what went wrong in the server's words, and retries", () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    let fail = true;
    function Flaky() {
      if (fail) throw new ApiError(409, "conflict", "an operation is already running");
      return <p>all good</p>;
    }
    render(
      <ErrorBoundary screen="collection">
        <Flaky />
      </ErrorBoundary>,
    );
    expect(screen.getByRole("heading").textContent).toBe("The collection screen hit a problem");
    expect(screen.getByText("An operation is already running.")).toBeTruthy();
    fail = false;
    fireEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(screen.getByText("all good")).toBeTruthy();
  });
});
