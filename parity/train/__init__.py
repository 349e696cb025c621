"""Training runs and the analyses built on them: recipes (`recipes`, `recipefiles`), one run in a worker (`training`),
the result store (`store`), executors and the runner that dedups runs by store key (`executors`, `runner`,
`planner`), and the attribution and equivalence statistics (`bisect`, `equivalence`). Imports `components`,
`runtime` and `core`."""
