"""`controlplane:tenant:OriginTls`: a Cloudflare Origin CA certificate stored as the Ingress's TLS Secret.

The CSR and its private key come from the spec: the control plane generates them once per namespace, so a
stack update never creates new key material and the certificate is only reissued when its hostnames change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_kubernetes as k8s
from pydantic import Field, SecretStr, field_validator

from programs.components import validation
from programs.components.common import Component, ComponentArgs
from programs.components.declaration import Declaration, DeclarationSet, OutputOf, Secret
from programs.components.tenant.models import object_annotations

OriginRequestType = Literal["origin-rsa", "origin-ecc"]
# The validities Cloudflare's Origin CA accepts, in days.
OriginValidityDays = Literal[7, 30, 90, 365, 730, 1095, 5475]


class OriginTlsArgs(ComponentArgs):
    namespace: str
    secret_name: str = "origin-tls"  # noqa: S105 - an object name
    hostnames: tuple[str, ...] = Field(min_length=1)
    csr: SecretStr
    private_key: SecretStr
    request_type: OriginRequestType = "origin-ecc"
    validity_days: OriginValidityDays = 5475
    labels: dict[str, str] = Field(default_factory=dict)
    await_readiness: bool = Field(default=True, description="false: skip Pulumi's readiness waits (object_annotations)")

    @field_validator("hostnames")
    @classmethod
    def _hostnames(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for host in value:
            validation.hostname(host, what="certificate hostname")
        return tuple(sorted(set(value)))

    @field_validator("csr")
    @classmethod
    def _csr(cls, value: SecretStr) -> SecretStr:
        if "-----BEGIN CERTIFICATE REQUEST-----" not in value.get_secret_value():
            raise ValueError("csr must be a PEM certificate signing request")
        return value

    @field_validator("private_key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if "-----BEGIN" not in text or "PRIVATE KEY-----" not in text:
            raise ValueError("private_key must be a PEM private key")
        return value


@dataclass(frozen=True)
class OriginTlsDeclarations(DeclarationSet):
    certificate: Declaration[cloudflare.OriginCaCertificate]
    secret: Declaration[k8s.core.v1.Secret]


class OriginTls(Component):
    """The namespace's origin certificate (trusted by Cloudflare's edge only) and its `kubernetes.io/tls` Secret."""

    certificate: cloudflare.OriginCaCertificate
    secret: k8s.core.v1.Secret
    secret_name: str
    expires_on: pulumi.Output[str]

    def __init__(self, resource_name: str, args: OriginTlsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("controlplane:tenant:OriginTls", resource_name, opts)
        declared = self.declarations(resource_name, args)
        self.certificate = declared.certificate.declare(self.child_opts())
        self.secret_name = args.secret_name
        self.secret = declared.secret.declare(self.child_opts(), {declared.certificate: self.certificate})
        self.expires_on = self.certificate.expires_on
        self.register_outputs({"secret_name": self.secret_name, "expires_on": self.expires_on})

    @staticmethod
    def declarations(resource_name: str, args: OriginTlsArgs) -> OriginTlsDeclarations:
        certificate = Declaration(
            cloudflare.OriginCaCertificate,
            resource_name,
            {
                "csr": Secret(args.csr.get_secret_value()),
                "hostnames": list(args.hostnames),
                "request_type": args.request_type,
                "requested_validity": float(args.validity_days),
            },
        )
        secret = Declaration(
            k8s.core.v1.Secret,
            resource_name,
            {
                "metadata": k8s.meta.v1.ObjectMetaArgs(
                    name=args.secret_name,
                    namespace=args.namespace,
                    labels=args.labels,
                    annotations=object_annotations(args.await_readiness),
                ),
                "type": "kubernetes.io/tls",
                # A Secret's data is secret as a whole (the SDK wraps it so whatever the program passes).
                "string_data": Secret(
                    {
                        "tls.crt": OutputOf(certificate, "certificate"),
                        "tls.key": args.private_key.get_secret_value(),
                    }
                ),
            },
        )
        return OriginTlsDeclarations(certificate=certificate, secret=secret)
