"""Components of the platform stack (type names `controlplane:platform:*`)."""

from programs.components.platform.cluster import EksCluster, EksClusterArgs, NodeGroupArgs
from programs.components.platform.deployer_rbac import DeployerRbac, DeployerRbacArgs
from programs.components.platform.ingress_controller import IngressController, IngressControllerArgs
from programs.components.platform.network import Network, NetworkArgs
from programs.components.platform.storage_class import EncryptedStorageClass, EncryptedStorageClassArgs
from programs.components.platform.zone import PlatformZone, PlatformZoneArgs

__all__ = [
    "DeployerRbac",
    "DeployerRbacArgs",
    "EksCluster",
    "EksClusterArgs",
    "EncryptedStorageClass",
    "EncryptedStorageClassArgs",
    "IngressController",
    "IngressControllerArgs",
    "Network",
    "NetworkArgs",
    "NodeGroupArgs",
    "PlatformZone",
    "PlatformZoneArgs",
]
