"""The rules, one module per family. Each module exports `CHECKS`: functions from a
`RuleContext` to the findings they make. A rule that does not apply says so with a SKIP
finding, so the audit record shows every rule consulted."""
