// Command pulumi-language-python is a small Python language host for the pulumi engine, built on the
// pulumi Go SDK (github.com/pulumi/pulumi/sdk/v3, pinned in go.mod to the CLI's version).
//
// Why our own: the upstream host (module github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3)
// is not served by the Go module proxy we can reach (see tools/BUILD-NOTES.md), and the engine cannot run a
// Python CrossGuard policy pack (`--policy-pack dir` / `policy_packs=[dir]`) without a language host named
// `pulumi-language-python` on PATH. This host implements the part of the LanguageRuntime protocol that the
// engine uses to run Python programs and plugins:
//
//   - RunPlugin: runs a policy pack / plugin directory's `__main__.py` with the Python of the toolchain and
//     virtualenv named in its PulumiPolicy.yaml / PulumiPlugin.yaml (`runtime.options`), streaming its output.
//   - Run: runs a Python program (`pulumi up` in a project folder, or a local-program Automation API
//     workspace) through `pulumi-language-python-exec`, which must sit next to this binary (it comes from the
//     sdk/v3 module, python/cmd/).
//   - Handshake, GetPluginInfo, About, GetProgramDependencies, InstallDependencies, Cancel.
//   - GetRequiredPlugins / GetRequiredPackages answer "none": resource plugins are then loaded when the
//     program first uses them (from PATH or PULUMI_HOME), instead of being resolved up front.
//
// Code generation (GenerateProject/Program/Package), Pack, Link, Template and the debugger are not
// implemented; they answer Unimplemented.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// version is set at link time by scripts/install-tools (-X main.version=...).
var version = "0.0.0-dev"

// Exit code with which pulumi-language-python-exec says "the error was already shown to the user".
const bailExitCode = 32

const execScriptName = "pulumi-language-python-exec"

func main() {
	// The engine may pass --logtostderr, -v=N (both already defined by the SDK's logging package) and
	// --tracing <endpoint>, then its own address.
	var tracing string
	flag.StringVar(&tracing, "tracing", "", "Emit tracing to a Zipkin-compatible tracing endpoint")
	flag.Parse()

	logging.InitLogging(false, 0, false) // takes -v / --logtostderr from the parsed flags
	cmdutil.InitTracing("pulumi-language-python", "pulumi-language-python", tracing)

	// The engine passes its own address as the last positional argument.
	var engineAddress string
	if args := flag.Args(); len(args) > 0 {
		engineAddress = args[len(args)-1]
	}

	h := &host{engineAddress: engineAddress, tracing: tracing}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "fatal: could not start the language host RPC server: %v\n", err)
		os.Exit(1)
	}
	// The engine reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)

	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "fatal: language host RPC server stopped: %v\n", err)
		os.Exit(1)
	}
}

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	mu            sync.Mutex
	engineAddress string
	tracing       string
}

func (h *host) engine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineAddress
}

func (h *host) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if req.GetEngineAddress() != "" {
		h.mu.Lock()
		h.engineAddress = req.GetEngineAddress()
		h.mu.Unlock()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (h *host) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// GetRequiredPlugins / GetRequiredPackages: see the package comment.
func (h *host) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *host) RuntimeOptionsPrompts(
	context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

// programDirs returns the root directory (where Pulumi.yaml / PulumiPolicy.yaml is) and the program directory.
func programDirs(info *pulumirpc.ProgramInfo, fallback string) (string, string) {
	root, prog := info.GetRootDirectory(), info.GetProgramDirectory()
	if prog == "" {
		prog = fallback
	}
	if root == "" {
		root = prog
	}
	return root, prog
}

// pythonOptions turns the `runtime.options` of Pulumi.yaml / PulumiPolicy.yaml (toolchain, virtualenv,
// typechecker) into toolchain options.
func pythonOptions(info *pulumirpc.ProgramInfo, fallbackDir string) (toolchain.PythonOptions, error) {
	root, prog := programDirs(info, fallbackDir)
	opts := toolchain.PythonOptions{Root: root, ProgramDir: prog, Toolchain: toolchain.Auto}
	raw := info.GetOptions().AsMap()
	if v, ok := raw["virtualenv"]; ok {
		s, ok := v.(string)
		if !ok {
			return opts, errors.New("virtualenv option must be a string")
		}
		opts.Virtualenv = s
	}
	if v, ok := raw["toolchain"]; ok {
		s, ok := v.(string)
		if !ok {
			return opts, errors.New("toolchain option must be a string")
		}
		switch s {
		case "pip":
			opts.Toolchain = toolchain.Pip
		case "poetry":
			opts.Toolchain = toolchain.Poetry
		case "uv":
			opts.Toolchain = toolchain.Uv
		default:
			return opts, fmt.Errorf("unsupported toolchain option %q (pip, poetry or uv)", s)
		}
	}
	if v, ok := raw["typechecker"]; ok {
		// Type checking before a run is not implemented by this host; say so instead of ignoring it silently.
		logging.Warningf("pulumi-language-python: typechecker option %v is ignored by this language host", v)
	}
	return opts, nil
}

func resolveToolchain(info *pulumirpc.ProgramInfo, fallbackDir string) (toolchain.Toolchain, error) {
	opts, err := pythonOptions(info, fallbackDir)
	if err != nil {
		return nil, err
	}
	return toolchain.ResolveToolchain(opts)
}

// exitCode returns the exit code of a finished command (ok=false if it did not run or was killed by a signal).
func exitCode(err error) (int, bool) {
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.ExitCode() >= 0 {
		return exitErr.ExitCode(), true
	}
	return 0, false
}

// RunPlugin runs a Python plugin (a policy pack for the engine's analyzer, or a provider) from its directory:
// `python -u <dir>` runs its __main__.py, with the engine's arguments. The plugin prints its port on stdout,
// which is streamed back to the engine.
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	ctx := server.Context()
	_, prog := programDirs(req.GetInfo(), req.GetProgram())
	if prog == "" {
		return status.Error(codes.InvalidArgument, "no plugin directory given")
	}
	logging.V(5).Infof("pulumi-language-python: RunPlugin(kind=%s, dir=%s, args=%v)", req.GetKind(), prog, req.GetArgs())

	if _, err := os.Stat(filepath.Join(prog, "__main__.py")); err != nil {
		return fmt.Errorf("python plugin %s: no __main__.py found (this language host runs plugins only from "+
			"their __main__.py): %w", prog, err)
	}

	opts, err := pythonOptions(req.GetInfo(), req.GetProgram())
	if err != nil {
		return err
	}
	// Like the upstream host: plugins do not run in the ambient Python; pip defaults to a `venv` folder.
	if opts.Toolchain == toolchain.Pip && opts.Virtualenv == "" {
		opts.Virtualenv = "venv"
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return fmt.Errorf("python plugin %s: %w", prog, err)
	}

	args := append([]string{"-u", prog}, req.GetArgs()...)
	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return err
	}

	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()

	cmd.Dir = req.GetPwd()
	cmd.Env = append(cmd.Env, req.GetEnv()...)
	cmd.Env = append(cmd.Env, "PYTHONUNBUFFERED=1")
	cmd.Stdout, cmd.Stderr = stdout, stderr

	runErr := cmd.Run()
	if err := closer.Close(); err != nil {
		return err
	}
	if runErr != nil {
		if code, ok := exitCode(runErr); ok {
			return server.Send(&pulumirpc.RunPluginResponse{
				Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(code)},
			})
		}
		if ctx.Err() != nil {
			// The engine closed the plugin (it kills the request when it is done with the analyzer).
			return nil
		}
		return fmt.Errorf("running python plugin %s: %w", prog, runErr)
	}
	return nil
}

// execScript finds pulumi-language-python-exec next to this binary (where scripts/install-tools puts it),
// else on PATH.
func execScript() (string, error) {
	if self, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(self); err == nil {
			self = resolved
		}
		p := filepath.Join(filepath.Dir(self), execScriptName)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(execScriptName); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found next to the language host or on PATH", execScriptName)
}

// Run runs a Python program through pulumi-language-python-exec, which connects it to the engine's
// resource monitor. Its output goes to this host's stdout/stderr, which the engine shows.
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	script, err := execScript()
	if err != nil {
		return nil, err
	}
	tc, err := resolveToolchain(req.GetInfo(), req.GetPwd())
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	root, prog := programDirs(req.GetInfo(), req.GetPwd())
	program := req.GetProgram()
	if ep := req.GetInfo().GetEntryPoint(); ep != "" || program == "" {
		if ep == "" {
			ep = "."
		}
		program = filepath.Join(prog, ep)
	}

	args := []string{"-u", script,
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engine(),
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--pwd", req.GetPwd(),
		"--dry_run", strconv.FormatBool(req.GetDryRun()),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
		"--organization", req.GetOrganization(),
		"--root_directory", root,
	}
	if h.tracing != "" {
		args = append(args, "--tracing", h.tracing)
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return nil, err
	}
	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretKeysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env,
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeysJSON),
		"PYTHONUNBUFFERED=1",
	)
	cmd.Dir = req.GetPwd()
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	logging.V(5).Infof("pulumi-language-python: Run %s %s", cmd.Path, strings.Join(cmd.Args[1:], " "))

	if err := cmd.Run(); err != nil {
		if code, ok := exitCode(err); ok {
			if code == bailExitCode {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", code)}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, err := resolveToolchain(req.GetInfo(), "")
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{
		Executable: info.PythonExecutable,
		Version:    info.PythonVersion.String(),
		Metadata:   map[string]string{"host": "controlplane pulumi-language-python " + version},
	}, nil
}

func (h *host) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, err := resolveToolchain(req.GetInfo(), req.GetPwd())
	if err != nil {
		return nil, err
	}
	pkgs, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, fmt.Errorf("listing python packages: %w", err)
	}
	deps := make([]*pulumirpc.DependencyInfo, len(pkgs))
	for i, p := range pkgs {
		deps[i] = &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version}
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

// InstallDependencies creates the virtualenv if needed and installs the project's requirements into it
// (`pulumi install`).
func (h *host) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	dir := req.GetDirectory()
	tc, err := resolveToolchain(req.GetInfo(), dir)
	if err != nil {
		return err
	}
	if dir == "" {
		dir = req.GetInfo().GetProgramDirectory()
	}
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.GetIsTerminal())
	if err != nil {
		return err
	}
	defer closer.Close()
	if err := tc.InstallDependencies(server.Context(), dir, req.GetUseLanguageVersionTools(), true,
		stdout, stderr); err != nil {
		return err
	}
	_, err = io.WriteString(stdout, "Finished installing dependencies\n")
	if err != nil {
		return err
	}
	return closer.Close()
}
