"""dialguard: the composition root. Settings, the SQLite store (which fills the rules' ports)
and the operator CLI live here; `agi`, `ami_listener` and `rules` are wired together here."""
