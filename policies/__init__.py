"""The control plane's policy-as-code.

- `policies.rules`: the rules, plain functions registered with metadata (`policies.registry`).
- `policies.pack`: their adaptation into CrossGuard policies; `policies/__main__.py` builds the pack
  (`pulumi up --policy-pack policies`).
- `policies.offline`: the same rules applied to a program run under Pulumi's mocks, with no CLI or cloud
  credentials (CI, and admission of tenant updates).
"""
