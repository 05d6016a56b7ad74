"""`controlplane:platform:Network`: a VPC with public subnets (load balancers, NAT) and private subnets (nodes)."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Self

import pulumi
import pulumi_aws as aws
from pydantic import Field, model_validator

from programs.components.common import Component, ComponentArgs


class NetworkArgs(ComponentArgs):
    name: str
    cidr: IPv4Network
    availability_zones: tuple[str, ...] = Field(min_length=2)
    public_subnet_cidrs: tuple[IPv4Network, ...]
    private_subnet_cidrs: tuple[IPv4Network, ...]
    single_nat_gateway: bool = False
    cluster_name: str = Field(description="tags the subnets for the cluster's load balancers")
    tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _per_zone(self) -> Self:
        zones = len(self.availability_zones)
        if len(self.public_subnet_cidrs) != zones or len(self.private_subnet_cidrs) != zones:
            raise ValueError("one public and one private subnet per availability zone")
        return self


class Network(Component):
    """Public subnets route to an internet gateway; private subnets reach out through NAT gateways. The
    default security group is emptied so nothing uses it by accident."""

    vpc: aws.ec2.Vpc
    vpc_id: pulumi.Output[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]

    def __init__(self, resource_name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("controlplane:platform:Network", resource_name, opts)
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}

        def tags(name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
            return {**args.tags, "Name": f"{args.name}-{name}", **(extra or {})}

        self.vpc = aws.ec2.Vpc(
            resource_name,
            cidr_block=str(args.cidr),
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=tags("vpc"),
            opts=self.child_opts(),
        )
        self.vpc_id = self.vpc.id
        aws.ec2.DefaultSecurityGroup(
            resource_name, vpc_id=self.vpc.id, ingress=[], egress=[], tags=tags("default"), opts=self.child_opts()
        )
        gateway = aws.ec2.InternetGateway(resource_name, vpc_id=self.vpc.id, tags=tags("igw"), opts=self.child_opts())
        public_routes = aws.ec2.RouteTable(
            f"{resource_name}-public",
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
            tags=tags("public"),
            opts=self.child_opts(),
        )

        self.public_subnet_ids = []
        self.private_subnet_ids = []
        nat_gateways: list[aws.ec2.NatGateway] = []
        for index, zone in enumerate(args.availability_zones):
            public = aws.ec2.Subnet(
                f"{resource_name}-public-{zone}",
                vpc_id=self.vpc.id,
                cidr_block=str(args.public_subnet_cidrs[index]),
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags=tags(f"public-{zone}", {**cluster_tag, "kubernetes.io/role/elb": "1"}),
                opts=self.child_opts(),
            )
            aws.ec2.RouteTableAssociation(
                f"{resource_name}-public-{zone}",
                subnet_id=public.id,
                route_table_id=public_routes.id,
                opts=self.child_opts(),
            )
            self.public_subnet_ids.append(public.id)
            if index == 0 or not args.single_nat_gateway:
                address = aws.ec2.Eip(
                    f"{resource_name}-nat-{zone}", domain="vpc", tags=tags(f"nat-{zone}"), opts=self.child_opts()
                )
                nat_gateways.append(
                    aws.ec2.NatGateway(
                        f"{resource_name}-{zone}",
                        allocation_id=address.id,
                        subnet_id=public.id,
                        tags=tags(f"nat-{zone}"),
                        opts=self.child_opts(depends_on=[gateway]),
                    )
                )

        for index, zone in enumerate(args.availability_zones):
            private = aws.ec2.Subnet(
                f"{resource_name}-private-{zone}",
                vpc_id=self.vpc.id,
                cidr_block=str(args.private_subnet_cidrs[index]),
                availability_zone=zone,
                tags=tags(f"private-{zone}", {**cluster_tag, "kubernetes.io/role/internal-elb": "1"}),
                opts=self.child_opts(),
            )
            nat = nat_gateways[0] if args.single_nat_gateway else nat_gateways[index]
            routes = aws.ec2.RouteTable(
                f"{resource_name}-private-{zone}",
                vpc_id=self.vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                tags=tags(f"private-{zone}"),
                opts=self.child_opts(),
            )
            aws.ec2.RouteTableAssociation(
                f"{resource_name}-private-{zone}",
                subnet_id=private.id,
                route_table_id=routes.id,
                opts=self.child_opts(),
            )
            self.private_subnet_ids.append(private.id)

        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
            }
        )
