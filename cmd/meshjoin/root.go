package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/meshjoin/meshjoin/session"
)

// Streams are where a command reads and writes; tests give buffers.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
	IsTTY    bool
}

func defaultStreams() Streams {
	return Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, IsTTY: term.IsTerminal(int(os.Stdout.Fd()))}
}

// globals are the flags every command shares: kubectl's connection flags and where state lives.
type globals struct {
	kubeconfig, context, namespace string
	stateDir, logFile              string
	verbose                        bool
	streams                        Streams
	log                            *slog.Logger
}

// Main runs one command line and returns the process exit code.
func Main(args []string, streams Streams) int {
	g := &globals{streams: streams}
	return execute(newRootCmd(g), args, streams)
}

// execute parses args, runs the command they name and reports its error (tests give a root
// whose commands only record what they were given).
func execute(root *cobra.Command, args []string, streams Streams) int {
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	err := root.ExecuteContext(context.Background())
	return reportError(streams.Err, err)
}

func newRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "meshjoin",
		Short:         "Join this workstation to an Istio service mesh",
		Long:          "meshjoin makes mesh services answer on this machine by name, through the mesh's east-west gateway, with a workload identity from the mesh CA.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.setUpLogging(); err != nil {
				return err
			}
			return applyProjectFile(cmd, g)
		},
	}
	f := root.PersistentFlags()
	f.StringVar(&g.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&g.context, "context", "", "the kubeconfig context to use")
	f.StringVarP(&g.namespace, "namespace", "n", "", "namespace for names given without one")
	f.StringVar(&g.stateDir, "state-dir", session.DefaultStateDir(), "where the running session is recorded")
	f.StringVar(&g.logFile, "log-file", "", "write logs to this file instead of stderr")
	f.BoolVarP(&g.verbose, "verbose", "v", false, "log every step")
	root.AddCommand(newJoinCmd(g), newLeaveCmd(g), newStatusCmd(g), newServicesCmd(g), newVersionCmd(g), newHostsApplyCmd(g), newGenDocsCmd(g), newTUICmd(g), newIDECmd(g), newInitCmd(g), newDoctorCmd(g))
	root.AddCommand(newUpCmd(g), newDownCmd(g), newRunCmd(g), newEnvCmd(g), newServeCmd(g), newHelperCmd(g), newMeshCmd(g))
	openTUIWithoutArgs(root, g)
	markUsageErrors(root)
	return root
}

func (g *globals) setUpLogging() error {
	level := slog.LevelWarn
	if g.verbose {
		level = slog.LevelInfo
	}
	var w io.Writer = g.streams.Err
	if g.logFile != "" {
		f, err := os.OpenFile(g.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("open --log-file: %w", err)
		}
		w = f
	}
	g.log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	// client-go logs through klog: keep it in the same place, and quiet unless -v.
	klog.SetOutput(w)
	klog.LogToStderr(false)
	return nil
}

// kube is the cluster connection, loaded like kubectl does (KUBECONFIG, --kubeconfig,
// --context, exec credential plugins).
type kube struct {
	client      kubernetes.Interface
	dynamic     dynamic.Interface
	contextName string
	namespace   string
	config      *rest.Config
}

func (g *globals) connect() (*kube, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if g.kubeconfig != "" {
		rules.ExplicitPath = g.kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: g.context}
	if g.namespace != "" {
		overrides.Context.Namespace = g.namespace
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, &configError{err: err}
	}
	cfg.UserAgent = "meshjoin/" + version
	raw, _ := cc.RawConfig()
	ctxName := g.context
	if ctxName == "" {
		ctxName = raw.CurrentContext
	}
	ns, _, _ := cc.Namespace()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, &configError{err: err}
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, &configError{err: err}
	}
	return &kube{client: client, dynamic: dyn, contextName: ctxName, namespace: ns, config: cfg}, nil
}

type configError struct{ err error }

func (e *configError) Error() string { return "load the kubeconfig: " + e.err.Error() }
func (e *configError) Unwrap() error { return e.err }
