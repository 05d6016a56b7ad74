"""The engine: the one package that imports ``pulumi.automation``. It knows stacks and specs, not the database."""
