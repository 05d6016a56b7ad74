"""Typed `ComponentResource`s shared by the programs.

Every component validates its arguments with a pydantic model before it declares a child, parents its children
to itself and exposes its outputs as typed attributes.
"""
