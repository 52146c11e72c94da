// Package config reads and validates the hub's configuration from the
// environment (and a .env file in the working directory).
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/secrets"
	"github.com/joho/godotenv"
)

// Config is the hub's validated configuration.
type Config struct {
	Listen string
	// DatabaseURL as given; Driver and DSN are derived from it.
	DatabaseURL string
	Driver      string // "sqlite" or "postgres"
	// SQLitePath is the database file for the sqlite driver.
	SQLitePath string
	PluginDir  string
	// EncryptionKey is the 32-byte credential key; nil means "generate one
	// into DataDir" (development only).
	EncryptionKey []byte
	// PreviousEncryptionKeys still open values sealed before a key rotation
	// (HUB_ENCRYPTION_PREVIOUS_KEYS, comma-separated base64); new values are
	// sealed with EncryptionKey only.
	PreviousEncryptionKeys [][]byte
	// DataDir holds the generated key when none is configured.
	DataDir           string
	InternalAPISecret string
	PublicBackendURL  string
	NgrokURL          string
	FrontendURL       string
	LogFormat         string // "json" or "text"
	LogLevel          string
	// OAuthStateTTL is how long a started OAuth login may take
	// (HUB_OAUTH_STATE_TTL, default 10m).
	OAuthStateTTL time.Duration
	// OAuthRefreshMargin is how long before its expiry an OAuth access
	// token is refreshed (HUB_OAUTH_REFRESH_MARGIN, default 2m).
	OAuthRefreshMargin time.Duration
	// Pipeline is how incidents are correlated and analysed.
	Pipeline Pipeline
	// JobRescueAfter: a job running longer is taken for crashed and rerun
	// (HUB_JOB_RESCUE_AFTER, default 5m).
	JobRescueAfter time.Duration
	// WebhookRetention: applied webhook inbox rows are deleted this long
	// after they arrived (HUB_WEBHOOK_RETENTION, default 7 days, at least
	// 48h: PagerDuty retries a delivery for 48 hours, and a redelivery is
	// recognised only while its row exists).
	WebhookRetention time.Duration
	// SSE bounds the live event streams.
	SSE SSE
	// MetricsListen, when set, serves GET /metrics without authentication on
	// an address of its own (HUB_METRICS_LISTEN, e.g. 0.0.0.0:9090), for a
	// Prometheus that cannot send X-Internal-Secret. /metrics on HUB_LISTEN
	// (management authentication) is served either way.
	MetricsListen string
	// Pprof also serves Go's profiles (/debug/pprof/) on MetricsListen
	// (HUB_PPROF=true, default false): CPU, heap, goroutines, execution
	// traces of the running hub, for an operator chasing its CPU or memory.
	Pprof bool
	// WebhookRejectLogInterval is the least time between two log lines
	// about rejected webhook deliveries (HUB_WEBHOOK_REJECT_LOG_INTERVAL,
	// default 10s).
	WebhookRejectLogInterval time.Duration
	// Env is the process environment; plugins get only the keys they declare.
	Env map[string]string
	// Ops is readiness, SQLite write-ahead-log bounds and replica liveness.
	Ops Ops
}

// SSE bounds the server-sent-event streams of GET /incidents/stream.
type SSE struct {
	// MaxPerTenant concurrent streams of one user or organisation
	// (HUB_SSE_MAX_STREAMS_PER_TENANT, default 20); more answer 429.
	MaxPerTenant int
	// WriteTimeout: a stream whose client has not taken a write this long
	// is closed (HUB_SSE_WRITE_TIMEOUT, default 30s).
	WriteTimeout time.Duration
}

// Pipeline configures correlation and root-cause analysis.
type Pipeline struct {
	// CorrelationWindow: open incidents this recent are candidates
	// (HUB_CORRELATION_WINDOW, default 15m).
	CorrelationWindow time.Duration
	// CorrelationThreshold in [0, 1] (HUB_CORRELATION_THRESHOLD, default 0.6).
	CorrelationThreshold float64
	// RCADelay waits for custom fields before an automatic analysis
	// (HUB_RCA_DELAY, default 5s).
	RCADelay time.Duration
	// Analyzer is "builtin" or "llm" (HUB_RCA_ANALYZER).
	Analyzer   string
	LLMBaseURL string // HUB_LLM_BASE_URL, e.g. https://api.openai.com/v1 or http://localhost:11434/v1
	LLMModel   string // HUB_LLM_MODEL
	LLMAPIKey  string // HUB_LLM_API_KEY (optional for local servers)
	// LLMTimeout bounds one analysis request (HUB_LLM_TIMEOUT, default 30s).
	LLMTimeout time.Duration
	// RCAStepDelay pauses after each stored step of an analysis (a thought,
	// summarizing), so a page polling the incident watches the reasoning
	// unfold (HUB_RCA_STEP_DELAY, default 0, at most 10s).
	RCAStepDelay time.Duration

	// EnrichRateLimit is how many provider API calls enrichment makes per
	// minute per connection, across replicas (HUB_ENRICH_RATE_LIMIT,
	// default 900: PagerDuty allows 960 per token, the rest is left for
	// connecting and provisioning; 0 switches pacing off).
	EnrichRateLimit int
	// EnrichRateBurst is how many calls may go at once after a quiet spell
	// (HUB_ENRICH_RATE_BURST, default 30; the limit plus the burst must
	// stay under the provider's per-minute limit).
	EnrichRateBurst int
	// EnrichServiceWindow: service-level evidence (change events,
	// dependencies) gathered for one incident is reused for the service's
	// incidents that trigger up to this long before it was gathered
	// (HUB_ENRICH_SERVICE_WINDOW, default 5m; 0 gathers it every time).
	EnrichServiceWindow time.Duration
}

// Defaults.
const (
	DefaultListen      = "127.0.0.1:5080"
	DefaultDatabaseURL = "sqlite://data/hub.db"
	DefaultPluginDir   = "bin/plugins"

	DefaultOAuthStateTTL      = 10 * time.Minute
	DefaultOAuthRefreshMargin = 2 * time.Minute
)

// Load reads .env (when present, without overriding the environment) and
// then the environment.
func Load() (*Config, error) {
	if err := godotenv.Load(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading .env: %w", err)
	}
	return FromEnv(environ())
}

func environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// FromEnv builds a Config from env, naming the variable in any error.
func FromEnv(env map[string]string) (*Config, error) {
	get := func(k, def string) string {
		if v := strings.TrimSpace(env[k]); v != "" {
			return v
		}
		return def
	}
	c := &Config{
		Listen:            get("HUB_LISTEN", DefaultListen),
		DatabaseURL:       get("HUB_DATABASE_URL", DefaultDatabaseURL),
		PluginDir:         get("HUB_PLUGIN_DIR", DefaultPluginDir),
		InternalAPISecret: strings.TrimSpace(env["INTERNAL_API_SECRET"]),
		PublicBackendURL:  strings.TrimRight(get("NEXT_PUBLIC_BACKEND_URL", ""), "/"),
		NgrokURL:          strings.TrimRight(get("NGROK_URL", ""), "/"),
		FrontendURL:       strings.TrimRight(get("FRONTEND_URL", ""), "/"),
		LogFormat:         get("HUB_LOG_FORMAT", "json"),
		LogLevel:          get("HUB_LOG_LEVEL", "info"),
		Env:               env,
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return nil, fmt.Errorf("HUB_LISTEN: %q is not host:port: %w", c.Listen, err)
	}
	if err := c.parseDatabaseURL(); err != nil {
		return nil, fmt.Errorf("HUB_DATABASE_URL: %w", err)
	}
	for _, k := range []string{"NEXT_PUBLIC_BACKEND_URL", "NGROK_URL", "FRONTEND_URL"} {
		if v := env[k]; v != "" {
			if err := checkHTTPURL(v); err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
		}
	}
	if k := env["HUB_ENCRYPTION_KEY"]; k != "" {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("HUB_ENCRYPTION_KEY: not valid base64: %w", err)
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("HUB_ENCRYPTION_KEY: decodes to %d bytes, want 32 (generate one with: openssl rand -base64 32)", len(key))
		}
		c.EncryptionKey = key
	}
	// A secret of blanks is a mistake, not a choice to run without one
	// (HTTP trims header values, so surrounding blanks could never match).
	if env["INTERNAL_API_SECRET"] != "" && c.InternalAPISecret == "" {
		return nil, fmt.Errorf("INTERNAL_API_SECRET: is only whitespace: set a real secret or leave it unset")
	}
	if k := env["HUB_ENCRYPTION_PREVIOUS_KEYS"]; k != "" {
		keys, err := secrets.ParseKeys(k)
		if err != nil {
			return nil, fmt.Errorf("HUB_ENCRYPTION_PREVIOUS_KEYS: %w", err)
		}
		c.PreviousEncryptionKeys = keys
	}
	if c.InternalAPISecret == "" && !isLoopback(c.Listen) {
		return nil, fmt.Errorf("INTERNAL_API_SECRET: must be set to listen on the non-loopback address %s", c.Listen)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return nil, fmt.Errorf("HUB_LOG_FORMAT: %q is neither json nor text", c.LogFormat)
	}
	var err error
	if c.OAuthStateTTL, err = duration(env, "HUB_OAUTH_STATE_TTL", DefaultOAuthStateTTL, time.Second, time.Hour); err != nil {
		return nil, err
	}
	if c.OAuthRefreshMargin, err = duration(env, "HUB_OAUTH_REFRESH_MARGIN", DefaultOAuthRefreshMargin, 0, time.Hour); err != nil {
		return nil, err
	}
	if c.JobRescueAfter, err = duration(env, "HUB_JOB_RESCUE_AFTER", 5*time.Minute, 2*time.Second, 24*time.Hour); err != nil {
		return nil, err
	}
	if c.WebhookRejectLogInterval, err = duration(env, "HUB_WEBHOOK_REJECT_LOG_INTERVAL", 10*time.Second, 100*time.Millisecond, time.Hour); err != nil {
		return nil, err
	}
	if err := c.parsePipeline(env); err != nil {
		return nil, err
	}
	if err := c.parseLimits(env); err != nil {
		return nil, err
	}
	if err := c.parseOps(env); err != nil {
		return nil, err
	}
	if c.MetricsListen = get("HUB_METRICS_LISTEN", ""); c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			return nil, fmt.Errorf("HUB_METRICS_LISTEN: %q is not host:port: %w", c.MetricsListen, err)
		}
		if c.MetricsListen == c.Listen {
			return nil, fmt.Errorf("HUB_METRICS_LISTEN: %s is HUB_LISTEN's address; leave it unset to serve /metrics there", c.MetricsListen)
		}
	}
	if v := get("HUB_PPROF", ""); v != "" {
		if c.Pprof, err = strconv.ParseBool(v); err != nil {
			return nil, fmt.Errorf("HUB_PPROF: %q is neither true nor false", v)
		}
		if c.Pprof && c.MetricsListen == "" {
			// Never on HUB_LISTEN: the API faces the internet.
			return nil, fmt.Errorf("HUB_PPROF: profiles are served on HUB_METRICS_LISTEN, which is not set")
		}
	}
	return c, nil
}

// parseEnrich reads the enrichment budget: pacing per connection and the
// reuse of service-level evidence.
func (p *Pipeline) parseEnrich(env map[string]string) error {
	var err error
	if p.EnrichRateLimit, err = enrichInt(env, "HUB_ENRICH_RATE_LIMIT", 900, 0, 1_000_000); err != nil {
		return err
	}
	if p.EnrichRateBurst, err = enrichInt(env, "HUB_ENRICH_RATE_BURST", 30, 1, 100_000); err != nil {
		return err
	}
	p.EnrichServiceWindow, err = duration(env, "HUB_ENRICH_SERVICE_WINDOW", 5*time.Minute, 0, time.Hour)
	return err
}

func enrichInt(env map[string]string, key string, def, lo, hi int) (int, error) {
	v := strings.TrimSpace(env[key])
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s: %q is not a whole number in [%d, %d]", key, v, lo, hi)
	}
	return n, nil
}

func (c *Config) parsePipeline(env map[string]string) error {
	p := &c.Pipeline
	var err error
	if p.CorrelationWindow, err = duration(env, "HUB_CORRELATION_WINDOW", 15*time.Minute, time.Second, 24*time.Hour); err != nil {
		return err
	}
	if p.RCADelay, err = duration(env, "HUB_RCA_DELAY", 5*time.Second, 0, time.Hour); err != nil {
		return err
	}
	if p.LLMTimeout, err = duration(env, "HUB_LLM_TIMEOUT", 30*time.Second, 100*time.Millisecond, 10*time.Minute); err != nil {
		return err
	}
	if p.RCAStepDelay, err = duration(env, "HUB_RCA_STEP_DELAY", 0, 0, 10*time.Second); err != nil {
		return err
	}
	if err := p.parseEnrich(env); err != nil {
		return err
	}
	p.CorrelationThreshold = 0.6
	if v := strings.TrimSpace(env["HUB_CORRELATION_THRESHOLD"]); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			return fmt.Errorf("HUB_CORRELATION_THRESHOLD: %q is not a number in [0, 1]", v)
		}
		p.CorrelationThreshold = f
	}
	p.Analyzer = strings.TrimSpace(env["HUB_RCA_ANALYZER"])
	switch p.Analyzer {
	case "":
		p.Analyzer = "builtin"
	case "builtin":
	case "llm":
		p.LLMBaseURL = strings.TrimRight(strings.TrimSpace(env["HUB_LLM_BASE_URL"]), "/")
		p.LLMModel = strings.TrimSpace(env["HUB_LLM_MODEL"])
		p.LLMAPIKey = strings.TrimSpace(env["HUB_LLM_API_KEY"])
		if p.LLMBaseURL == "" {
			return fmt.Errorf("HUB_LLM_BASE_URL: required when HUB_RCA_ANALYZER=llm (e.g. https://api.openai.com/v1 or http://localhost:11434/v1)")
		}
		if err := checkHTTPURL(p.LLMBaseURL); err != nil {
			return fmt.Errorf("HUB_LLM_BASE_URL: %w", err)
		}
		if p.LLMModel == "" {
			return fmt.Errorf("HUB_LLM_MODEL: required when HUB_RCA_ANALYZER=llm")
		}
	default:
		return fmt.Errorf("HUB_RCA_ANALYZER: %q is neither builtin nor llm", p.Analyzer)
	}
	return nil
}

// parseLimits reads the retention and stream limits.
func (c *Config) parseLimits(env map[string]string) error {
	var err error
	if c.WebhookRetention, err = duration(env, "HUB_WEBHOOK_RETENTION", 7*24*time.Hour, 48*time.Hour, 10*365*24*time.Hour); err != nil {
		return fmt.Errorf("%w (at least 48h: PagerDuty retries a delivery for 48 hours)", err)
	}
	if c.SSE.WriteTimeout, err = duration(env, "HUB_SSE_WRITE_TIMEOUT", 30*time.Second, time.Second, 10*time.Minute); err != nil {
		return err
	}
	c.SSE.MaxPerTenant = 20
	if v := strings.TrimSpace(env["HUB_SSE_MAX_STREAMS_PER_TENANT"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return fmt.Errorf("HUB_SSE_MAX_STREAMS_PER_TENANT: %q is not a number in [1, 10000]", v)
		}
		c.SSE.MaxPerTenant = n
	}
	return nil
}

// duration reads a Go duration ("90s", "10m") within [lo, hi].
func duration(env map[string]string, key string, def, lo, hi time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(env[key])
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration such as 10m or 90s", key, v)
	}
	if d < lo || d > hi {
		return 0, fmt.Errorf("%s: %s is outside [%s, %s]", key, d, lo, hi)
	}
	return d, nil
}

// OAuthClient is a provider's OAuth app as configured for the hub:
// NEXT_PUBLIC_ENABLE_<P>_OAUTH=true enables it, <P>_CLIENT_ID and
// <P>_CLIENT_SECRET identify it (<P> is the provider name in upper case).
type OAuthClient struct {
	Enabled      bool
	ClientID     string
	ClientSecret string
	// Missing names the unset variables of an enabled client.
	Missing []string
}

// OAuthClient returns provider's OAuth app settings.
func (c *Config) OAuthClient(provider string) OAuthClient {
	p := strings.ToUpper(strings.ReplaceAll(provider, "-", "_"))
	o := OAuthClient{
		Enabled:      strings.EqualFold(strings.TrimSpace(c.Env["NEXT_PUBLIC_ENABLE_"+p+"_OAUTH"]), "true"),
		ClientID:     strings.TrimSpace(c.Env[p+"_CLIENT_ID"]),
		ClientSecret: strings.TrimSpace(c.Env[p+"_CLIENT_SECRET"]),
	}
	if o.ClientID == "" {
		o.Missing = append(o.Missing, p+"_CLIENT_ID")
	}
	if o.ClientSecret == "" {
		o.Missing = append(o.Missing, p+"_CLIENT_SECRET")
	}
	return o
}

// PublicURL is the hub's public base URL: NEXT_PUBLIC_BACKEND_URL, else
// http://HUB_LISTEN.
func (c *Config) PublicURL() string {
	if c.PublicBackendURL != "" {
		return c.PublicBackendURL
	}
	return "http://" + c.Listen
}

// OAuthRedirectURL is where the provider sends the user back after an
// OAuth authorization: <public URL>/<provider>/oauth/callback.
func (c *Config) OAuthRedirectURL(provider string) string {
	return c.PublicURL() + "/" + provider + "/oauth/callback"
}

func (c *Config) parseDatabaseURL() error {
	raw := c.DatabaseURL
	switch {
	case strings.HasPrefix(raw, "sqlite://"):
		p := strings.TrimPrefix(raw, "sqlite://")
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		if p == "" || p == "/" {
			return fmt.Errorf("%q names no file (use sqlite://data/hub.db or sqlite:///abs/path.db)", raw)
		}
		c.Driver, c.SQLitePath = "sqlite", filepath.Clean(p)
		c.DataDir = filepath.Dir(c.SQLitePath)
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		u, err := url.Parse(raw)
		if err != nil {
			return fmt.Errorf("not a valid URL: %w", err)
		}
		if u.Host == "" {
			return fmt.Errorf("%q names no host", redact(u))
		}
		c.Driver, c.DataDir = "postgres", "data"
	default:
		return fmt.Errorf("unsupported scheme in %q: use sqlite://<path> or postgres://<user>:<password>@<host>/<db>", firstPart(raw))
	}
	return nil
}

// RedactedDatabaseURL is the database URL with any password hidden.
func (c *Config) RedactedDatabaseURL() string {
	if c.Driver != "postgres" {
		return c.DatabaseURL
	}
	u, err := url.Parse(c.DatabaseURL)
	if err != nil {
		return "postgres://…"
	}
	return redact(u)
}

// WebhookBaseURL is the public base of webhook URLs: NGROK_URL when the
// public backend URL is unset or local, otherwise the public backend URL.
func (c *Config) WebhookBaseURL() string {
	if c.NgrokURL != "" && (c.PublicBackendURL == "" || isLocalURL(c.PublicBackendURL)) {
		return c.NgrokURL
	}
	if c.PublicBackendURL != "" {
		return c.PublicBackendURL
	}
	return "http://" + c.Listen
}

func redact(u *url.URL) string {
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

func firstPart(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		return s[:i+3] + "…"
	}
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

func checkHTTPURL(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("not a valid URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", v)
	}
	return nil
}

func isLocalURL(v string) bool {
	u, err := url.Parse(v)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
