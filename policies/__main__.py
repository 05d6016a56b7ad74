"""The CrossGuard entry point: `pulumi preview --policy-pack policies` runs this file.

It only builds the PolicyPack (which starts the analyzer's gRPC server and blocks); the rules live in
`policies.rules` and the adapter in `policies.pack`. Nothing else may import this module.
"""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

# The CLI runs this file as a script from the pack's directory; make the repository importable.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from policies.pack import PACK_NAME, build_policies  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=build_policies(),
)
