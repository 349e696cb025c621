"""The mirrored components, framework-neutral side: for each component (resize, data, models, heads, optim, loss,
schedules, classifier) its table of methods, its float64/numpy reference where one exists, and a front that checks
arguments once and calls the backend through the runtime's client. `datasets` prepares and caches data; `porting` is
the torch->Keras weights table."""
