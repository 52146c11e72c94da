// Command aurora-hub runs Aurora Hub: the provider-integration service that
// loads provider plugins and serves the hub API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/app"
	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/hub/pluginhost"
	"github.com/aurora-hub/aurora-hub/hub/rekey"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/hashicorp/go-hclog"
)

const usage = `usage: aurora-hub <command>

commands:
  serve          run the hub (default)
  plugins list   list the plugins in HUB_PLUGIN_DIR: name, version, protocol,
                 capabilities, checksum status, path
  plugins verify check every plugin's checksum (SHA256SUMS) and protocol
                 version without starting the hub; exit 1 if any would be refused
  jobs list      the queues in the configured database: inbox events pending,
                 River jobs by kind and state, running jobs and the replica
                 holding each, dead letters (--json for JSON)
  jobs retry     retry dead letters: job:<id> (a discarded River job; a bare
                 number is a job id), event:<id> (an inbox event that failed
                 to apply), or --all
  rotate-key [-dry-run] [-batch N]
                 seal every stored secret again with HUB_ENCRYPTION_KEY,
                 opening those sealed before with HUB_ENCRYPTION_PREVIOUS_KEYS;
                 one transaction per batch, safe beside running hubs; prints
                 counts per table, exit 1 if any value could not be opened
                 (-dry-run only counts)
  version        print the version

While serving, SIGHUP reloads the plugin directory: new binaries start,
changed ones are swapped in after the old process's calls finish, removed
ones stop.

Configuration comes from the environment and a .env file; see README.md.`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve()
	case "plugins":
		err = pluginsCmd(args[1:])
	case "jobs":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err = jobsCmd(ctx, args[1:], os.Stdout)
		stop()
	case "rotate-key":
		err = rotateKey(args[1:])
	case "version":
		fmt.Println("aurora-hub", version)
	case "help", "-h", "--help":
		fmt.Println(usage)
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "aurora-hub:", err)
		os.Exit(1)
	}
}

func newLogger(cfg *config.Config) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name: "hub", Level: hclog.LevelFromString(cfg.LogLevel), JSONFormat: cfg.LogFormat == "json",
		Output: os.Stderr, TimeFormat: time.RFC3339Nano,
	})
}

func serve() error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log := newLogger(cfg)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Caught from the start: a SIGHUP during start-up must not end the hub.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	a, err := app.New(ctx, cfg, app.Options{Logger: log})
	if err != nil {
		return err
	}
	log.Info("starting", "version", version)
	go reloadOnHangup(ctx, hup, a, log)
	serveErr := a.Serve(ctx)
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	a.Close(sctx)
	return serveErr
}

// reloadOnHangup reloads the plugin directory on every SIGHUP.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, a *app.App, log hclog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			log.Info("SIGHUP: reloading plugins", "dir", a.Config.PluginDir)
			n, err := a.Plugins.Reload(ctx)
			if err != nil {
				log.Error("reloading plugins failed; the running ones are unchanged", "error", err)
				continue
			}
			log.Info("plugins reloaded", "binaries", n)
		}
	}
}

func pluginsCmd(args []string) error {
	if len(args) != 1 || (args[0] != "list" && args[0] != "verify") {
		return errors.New("usage: aurora-hub plugins list|verify")
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	opts, err := pluginhost.OptionsFromEnv(cfg.Env)
	if err != nil {
		return err
	}
	checks, err := pluginhost.InspectDir(context.Background(), cfg.PluginDir, opts.RequireChecksum)
	if err != nil {
		return fmt.Errorf("HUB_PLUGIN_DIR %s: %w", cfg.PluginDir, err)
	}
	if len(checks) == 0 {
		fmt.Printf("no plugins in %s\n", cfg.PluginDir)
		return nil
	}
	if args[0] == "list" {
		listPlugins(checks)
		return nil
	}
	return verifyPlugins(checks, opts.RequireChecksum)
}

func listPlugins(checks []pluginhost.Check) {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tVERSION\tPROTOCOL\tCAPABILITIES\tCHECKSUM\tPATH\tPROBLEM")
	for _, c := range checks {
		m := c.Manifest
		ver, proto, caps := m.Version, "-", strings.Join(m.Capabilities, ",")
		if m.ProtocolVersion != 0 {
			proto = strconv.Itoa(m.ProtocolVersion)
		}
		problem := "-"
		if c.Err != nil {
			problem = c.Err.Error()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, dash(ver), proto, dash(caps), dash(c.Checksum), c.Path, problem)
	}
	w.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// verifyPlugins prints one verdict per plugin and fails if any would be refused.
func verifyPlugins(checks []pluginhost.Check, requireChecksum bool) error {
	bad := 0
	for _, c := range checks {
		switch {
		case c.Err != nil:
			bad++
			fmt.Printf("REFUSED  %s: %v\n", c.Name, c.Err)
		case c.Checksum == pluginhost.ChecksumUnpinned:
			fmt.Printf("ok       %s %s (protocol %d; not pinned in %s, sha256 %s)\n", c.Name, c.Manifest.Version, c.Manifest.ProtocolVersion, pluginhost.SumsFile, c.SHA256)
		default:
			fmt.Printf("ok       %s %s (protocol %d; checksum %s)\n", c.Name, c.Manifest.Version, c.Manifest.ProtocolVersion, c.Checksum)
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d plugins would be refused (HUB_PLUGIN_REQUIRE_CHECKSUM=%t)", bad, len(checks), requireChecksum)
	}
	return nil
}

// rotateKey re-seals every stored secret with the current key and prints
// what it found per table.
func rotateKey(args []string) error {
	fs := flag.NewFlagSet("rotate-key", flag.ContinueOnError)
	dry := fs.Bool("dry-run", false, "only count the values sealed with each key")
	batch := fs.Int("batch", rekey.DefaultBatch, "rows per transaction")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if cfg.EncryptionKey == nil {
		// Do not let the development fallback make up a key to rotate to.
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "hub.key")); err != nil {
			return fmt.Errorf("HUB_ENCRYPTION_KEY: not set, and no key file in %s: set the key to rotate to", cfg.DataDir)
		}
	}
	log := newLogger(cfg)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := app.Sealer(cfg, log)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, store.Options{Driver: cfg.Driver, SQLitePath: cfg.SQLitePath, URL: cfg.DatabaseURL, Logger: log.Named("store")})
	if err != nil {
		return fmt.Errorf("HUB_DATABASE_URL (%s): %w", cfg.RedactedDatabaseURL(), err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	cur, prev := s.KeyIDs()
	fmt.Printf("current key %s, previous keys %s\n", cur, dash(strings.Join(prev, ",")))
	var counts []rekey.Count
	if *dry {
		counts, err = rekey.Survey(ctx, st, s)
	} else {
		counts, err = rekey.Rotate(ctx, st, s, rekey.Options{Batch: *batch, Logger: log})
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "TABLE\tTOTAL\tCURRENT\tSTALE\tUNKNOWN KEY\tRESEALED\tFAILED\t")
	for _, c := range counts {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", c.Table, c.Total, c.Current, c.Stale, c.Unknown, c.Resealed, c.Failed)
	}
	w.Flush()
	return err
}
