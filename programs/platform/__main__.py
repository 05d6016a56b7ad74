"""Entry point of the platform project: read the stack's config, validate it, assemble the platform."""

import sys
from pathlib import Path

import pulumi

if __package__ in (None, ""):  # run by the Pulumi language host as a directory, not as `-m programs.platform`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from programs.platform.config import PlatformConfig
from programs.platform.program import platform_program

config = pulumi.Config()
platform_program(
    PlatformConfig.model_validate(
        {
            "environment": config.require("environment"),
            "region": config.require("region"),
            "aws_account_id": config.get("awsAccountId"),
            "network": config.require_object("network"),
            "cluster": config.require_object("cluster"),
            "storage": config.get_object("storage") or {},
            "ingress": config.get_object("ingress") or {},
            "cloudflare": config.get_object("cloudflare"),
            "deployer": config.get_object("deployer"),
            "tags": config.get_object("tags") or {},
        }
    ),
    # The provider's own secret config, set by operators: pulumi config set --secret cloudflare:apiToken ...
    cloudflare_api_token=pulumi.Config("cloudflare").get_secret("apiToken"),
)
