"""The fleet: what each stack last applied (its digest), and rollouts of program, provider or platform changes."""
