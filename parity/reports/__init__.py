"""Everything a user reads: typed results (`results`), one report context rendered to Markdown and HTML through Jinja2
templates with StrictUndefined (`render`, `report`, `templates/`), figures (`plots`), the reports folder's index
(`index`, `publish`), `diff` of two results, and the reports of attribution, sweeps and the thread (`attribution`,
`sweep`, `thread`)."""
