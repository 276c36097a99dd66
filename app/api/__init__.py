"""HTTP routes, one module per area: scoring, searches, spaces, operations."""
