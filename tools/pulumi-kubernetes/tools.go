//go:build tools

// Package tools only pins the dependencies of the provider's `cmd/pulumi-resource-kubernetes`
// (and of its `generate.go`). scripts/install-tools copies that command's files from the module
// cache next to this go.mod in a writable build folder, runs `go generate` (which writes the
// schema-embed.json / terraform-mapping-embed.json files the command embeds) and builds it.
package tools

import (
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
	_ "github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)
