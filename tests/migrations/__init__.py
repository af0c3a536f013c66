"""Schema-evolution tests: upgrade cases, the drift-check script."""
