"""The control plane's policy-as-code (see `policies/README.md`).

- `policies.rules`: the rules, plain functions registered with metadata (`policies.registry`).
- `policies.pack`: their adaptation into CrossGuard policies; `policies/__main__.py` builds the pack
  (`pulumi up --policy-pack policies`, or Automation API `policy_packs=[str(PACK_DIR)]`).
- `policies.offline`: the same rules applied to a program run under Pulumi's mocks, with no CLI or cloud
  credentials (CI, and admission of tenant updates).
"""

from pathlib import Path

PACK_DIR = Path(__file__).resolve().parent
"""The policy pack's folder, as the Pulumi CLI and the Automation API take it."""
