"""Form definitions: what each kind of proposal must say, as data (`*.toml`), and the code that loads them."""
