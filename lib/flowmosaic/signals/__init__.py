"""Country signals beyond flow % (docs/signals.md): fund-flow and allocation factors built from
the same silver tables as country flows, point in time."""
