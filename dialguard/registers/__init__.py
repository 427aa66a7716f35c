"""Do-not-call register files: readers that turn each supplier's layout into register keys."""
