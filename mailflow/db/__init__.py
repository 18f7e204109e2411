"""Storage: the engine and sessions, the models, typed service state, and the schema migrations."""
