"""Processes and backends. The backend registry (`backends`: one `Backend` record per backend, holding every
per-backend fact), the contract each backend package satisfies (`protocols`), the worker processes that run a
backend's code and speak numpy (`workers`, started through `forkserver`), and the typed client through which the
front calls a backend (`client`). Imports only `core`."""
