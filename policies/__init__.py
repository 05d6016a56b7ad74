"""The control plane's policy-as-code (see `policies/README.md`).

- `policies.rules`: the rules, plain functions registered with metadata (`policies.registry`).
- `policies.pack`: their adaptation into CrossGuard policies; `policies/__main__.py` builds the pack
  (`pulumi up --policy-pack policies`, or Automation API `policy_packs=[str(PACK_DIR)]`).
- `policies.offline`: the same rules applied to a program run under Pulumi's mocks, with no CLI or cloud
  credentials (CI, and the reference for admission).
- `policies.declared`: admission of tenant updates, the same rules on the tenant components' declarations read
  without the Pulumi runtime (held to the mock run by a test).
"""

from pathlib import Path

PACK_DIR = Path(__file__).resolve().parent
"""The policy pack's folder, as the Pulumi CLI and the Automation API take it."""
