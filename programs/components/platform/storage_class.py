"""`controlplane:platform:StorageClass`: the encrypted gp3 class tenant volumes are provisioned from."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from programs.components.common import Component, OutputComponentArgs, StrInput

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


class EncryptedStorageClassArgs(OutputComponentArgs):
    name: str = "gp3-encrypted"
    kms_key_arn: StrInput
    default_class: bool = True


class EncryptedStorageClass(Component):
    """gp3 through the EBS CSI driver, encrypted with the platform's volumes key; expandable; deleted with its
    claim; bound where the pod lands (WaitForFirstConsumer) so the volume is created in the pod's zone."""

    storage_class: k8s.storage.v1.StorageClass
    name: str

    def __init__(
        self, resource_name: str, args: EncryptedStorageClassArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("controlplane:platform:StorageClass", resource_name, opts)
        self.name = args.name
        self.storage_class = k8s.storage.v1.StorageClass(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.name,
                annotations={DEFAULT_CLASS_ANNOTATION: "true" if args.default_class else "false"},
            ),
            provisioner="ebs.csi.aws.com",
            parameters={
                "type": "gp3",
                "encrypted": "true",
                "kmsKeyId": args.kms_key_arn,
                "csi.storage.k8s.io/fstype": "ext4",
            },
            allow_volume_expansion=True,
            reclaim_policy="Delete",
            volume_binding_mode="WaitForFirstConsumer",
            opts=self.child_opts(),
        )
        self.register_outputs({"name": self.name})
