"""The differential cases: the `Case` record (`case`), the declared cases (`cases/`), the measurement of a pair of
outputs against a tolerance from the one table (`compare`, `tolerances`), the shared context of a check (`context`)
and the library oracles that run inside a backend's worker (`oracles`)."""
