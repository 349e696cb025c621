"""`parity capture`: a user's own training program, run unmodified up to its first training call, read into a
recipe whose every knob says where it came from, with every setting parity has no knob for listed.

Layers, bottom to top: `record` (what a capture found, as data), `imports` (post-import hooks), `intercept` (the
patches a program runs under: weight downloads, the stop at the first training call), `read_*` (the live objects
of each library read into knobs), `child` (the process the program runs in), `program` (the parent side: the
child, the static checks of the source, the data pipeline matched by behaviour), `recipefile` (the recipe TOML
with provenance). Nothing here imports torch or TensorFlow at module level: the readers import what the program
itself imported.
"""
