// A wide table scrolls inside its own box (reachable and scrollable from the keyboard), so the
// page itself never gets wider than the screen.
import type { ReactNode } from "react";

export function TableScroll({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="table-scroll" role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  );
}
