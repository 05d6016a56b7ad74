"""Namespaces and their apps: the desired state, its reconcile into a Pulumi stack, and the runs' records."""
