"""The compliance policy, pure: models, number handling, jurisdiction packs, the decision engine.

Nothing in this package performs I/O or reads the clock: time, time zones, calendars and the
facts from the store reach it as values, so every decision can be replayed from its inputs.
"""
