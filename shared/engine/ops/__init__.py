"""What an operator reads: the figures the admin console shows, each computed from the stores in one place so the
console has no second path to the database (the admin function calls these and answers JSON)."""
