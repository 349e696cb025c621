"""The bottom layer: what every other layer may use. Errors that name the thing and the value (`errors`), confidence
intervals and paired tests (`stats`), report folders written all-or-nothing (`outputs`), a bounded memo (`memo`) and
the facts of the command that is running (`runinfo`). Imports nothing else of parity."""
