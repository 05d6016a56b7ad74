"""The platform program, run by operators from the top-level `Pulumi.yaml` (`pulumi preview -s dev`)."""

from programs.platform.config import PlatformConfig
from programs.platform.program import platform_program

__all__ = ["PlatformConfig", "platform_program"]
