"""A tiny inventory tracker used as a code sample for chunking tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date


@dataclass
class Item:
    """One kind of thing on a shelf: how many there are and when they were last counted."""

    name: str
    quantity: int = 0
    location: str = "store room"
    counted_on: date | None = None
    tags: list[str] = field(default_factory=list)

    def restock(self, amount: int) -> None:
        """Add `amount` units; negative amounts are a mistake, not a withdrawal."""
        if amount < 0:
            raise ValueError(f"cannot restock {self.name} by a negative amount: {amount}")
        self.quantity += amount

    def take(self, amount: int) -> int:
        """Remove up to `amount` units and return how many were actually taken."""
        taken = min(amount, self.quantity)
        self.quantity -= taken
        return taken

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "quantity": self.quantity,
            "location": self.location,
            "counted_on": self.counted_on.isoformat() if self.counted_on else None,
            "tags": list(self.tags),
        }


class Inventory:
    """A collection of items keyed by name, with a simple audit trail."""

    def __init__(self) -> None:
        self._items: dict[str, Item] = {}
        self.log: list[str] = []

    def add(self, item: Item) -> None:
        if item.name in self._items:
            raise KeyError(f"{item.name} is already in the inventory")
        self._items[item.name] = item
        self.log.append(f"added {item.name}")

    def get(self, name: str) -> Item:
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(f"no item called {name!r}") from None

    def low_stock(self, threshold: int = 5) -> list[Item]:
        """Items at or below `threshold`, fewest first."""
        return sorted(
            (item for item in self._items.values() if item.quantity <= threshold),
            key=lambda item: (item.quantity, item.name),
        )

    def count(self, name: str, quantity: int, on: date) -> None:
        item = self.get(name)
        if item.quantity != quantity:
            self.log.append(f"recount {name}: {item.quantity} -> {quantity}")
        item.quantity = quantity
        item.counted_on = on

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self._items.values(), key=lambda item: item.name))


def load(text: str) -> Inventory:
    """Build an inventory from the JSON written by `dump`."""
    inventory = Inventory()
    for raw in json.loads(text):
        counted = raw.get("counted_on")
        inventory.add(
            Item(
                name=raw["name"],
                quantity=int(raw.get("quantity", 0)),
                location=raw.get("location", "store room"),
                counted_on=date.fromisoformat(counted) if counted else None,
                tags=list(raw.get("tags", [])),
            )
        )
    return inventory


def dump(inventory: Inventory) -> str:
    """Serialise an inventory as pretty-printed JSON, items sorted by name."""
    return json.dumps([item.to_dict() for item in inventory], indent=2)


def by_location(inventory: Inventory) -> dict[str, list[str]]:
    """Names of items grouped by where they are kept."""
    groups: dict[str, list[str]] = {}
    for item in inventory:
        groups.setdefault(item.location, []).append(item.name)
    return groups


def report(inventory: Inventory, threshold: int = 5) -> str:
    """A short human-readable summary for the weekly stock email."""
    lines = [f"{len(inventory)} kinds of item in stock."]
    low = inventory.low_stock(threshold)
    if low:
        lines.append("Running low:")
        lines.extend(f"  - {item.name}: {item.quantity} left" for item in low)
    else:
        lines.append("Nothing is running low.")
    for location, names in sorted(by_location(inventory).items()):
        lines.append(f"{location}: {', '.join(names)}")
    return "\n".join(lines)


if __name__ == "__main__":
    demo = Inventory()
    demo.add(Item("string", 3, tags=["garden"]))
    demo.add(Item("light bulbs", 12, location="hall cupboard"))
    demo.add(Item("batteries", 4, location="hall cupboard", tags=["AA"]))
    print(report(demo))
