"""Pulumi programs of the hosting platform.

`platform/` is the cluster and edge stack that operators run from the top-level `Pulumi.yaml`; `tenant/` is the
program of one namespace's stack, run by the control plane's engine through the Automation API; `components/`
holds the typed `ComponentResource`s both assemble. Nothing here imports the service (`controlplane`): a program
takes a typed spec and declares resources.
"""
