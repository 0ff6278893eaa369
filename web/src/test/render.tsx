// Render a component as the app does, with a query client of its own (the app's defaults), so
// no test sees another's cached data. Not under StrictMode: its second mount aborts the first
// request (queries pass their AbortSignal) and asks again, which would take the next of a
// test's answers.
import { QueryClientProvider } from "@tanstack/react-query";
import { render, type RenderResult } from "@testing-library/react";
import type { ReactElement } from "react";
import { createQueryClient } from "../api/queries";

export function renderWithQueries(ui: ReactElement): RenderResult & { queryClient: ReturnType<typeof createQueryClient> } {
  const queryClient = createQueryClient();
  const result = render(<QueryClientProvider client={queryClient}>{ui}</QueryClientProvider>);
  return { ...result, queryClient };
}
