package config

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func TestFromEnv(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // the variable the error must name; "" = valid
		check   func(t *testing.T, c *Config)
	}{
		{"defaults", nil, "", func(t *testing.T, c *Config) {
			if c.WebhookRejectLogInterval != 10*time.Second || c.Listen != "127.0.0.1:5080" || c.Driver != "sqlite" || c.SQLitePath != "data/hub.db" || c.PluginDir != "bin/plugins" || c.EncryptionKey != nil || c.DataDir != "data" {
				t.Errorf("defaults = %+v", c)
			}
		}},
		{"absolute sqlite", map[string]string{"HUB_DATABASE_URL": "sqlite:///var/lib/hub.db"}, "", func(t *testing.T, c *Config) {
			if c.SQLitePath != "/var/lib/hub.db" || c.DataDir != "/var/lib" {
				t.Errorf("path = %q dir %q", c.SQLitePath, c.DataDir)
			}
		}},
		{"postgres", map[string]string{"HUB_DATABASE_URL": "postgres://u:pw@db:5432/hub"}, "", func(t *testing.T, c *Config) {
			if c.Driver != "postgres" || strings.Contains(c.RedactedDatabaseURL(), "pw") {
				t.Errorf("driver %q redacted %q", c.Driver, c.RedactedDatabaseURL())
			}
		}},
		{"key", map[string]string{"HUB_ENCRYPTION_KEY": key}, "", func(t *testing.T, c *Config) {
			if len(c.EncryptionKey) != 32 {
				t.Errorf("key len %d", len(c.EncryptionKey))
			}
		}},
		{"public listen with secret", map[string]string{"HUB_LISTEN": "0.0.0.0:80", "INTERNAL_API_SECRET": "s"}, "", nil},
		{"bad scheme", map[string]string{"HUB_DATABASE_URL": "mysql://x"}, "HUB_DATABASE_URL", nil},
		{"sqlite without file", map[string]string{"HUB_DATABASE_URL": "sqlite://"}, "HUB_DATABASE_URL", nil},
		{"postgres without host", map[string]string{"HUB_DATABASE_URL": "postgres:///db"}, "HUB_DATABASE_URL", nil},
		{"short key", map[string]string{"HUB_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(make([]byte, 16))}, "HUB_ENCRYPTION_KEY", nil},
		{"key not base64", map[string]string{"HUB_ENCRYPTION_KEY": "!!!"}, "HUB_ENCRYPTION_KEY", nil},
		{"previous keys", map[string]string{"HUB_ENCRYPTION_KEY": key, "HUB_ENCRYPTION_PREVIOUS_KEYS": base64.StdEncoding.EncodeToString(make([]byte, 32)) + "," + key}, "", func(t *testing.T, c *Config) {
			if len(c.PreviousEncryptionKeys) != 2 || len(c.PreviousEncryptionKeys[0]) != 32 {
				t.Errorf("previous keys = %d", len(c.PreviousEncryptionKeys))
			}
		}},
		{"previous key short", map[string]string{"HUB_ENCRYPTION_PREVIOUS_KEYS": key + "," + base64.StdEncoding.EncodeToString(make([]byte, 16))}, "HUB_ENCRYPTION_PREVIOUS_KEYS", nil},
		{"bad listen", map[string]string{"HUB_LISTEN": "5080"}, "HUB_LISTEN", nil},
		{"public listen without secret", map[string]string{"HUB_LISTEN": "0.0.0.0:5080"}, "INTERNAL_API_SECRET", nil},
		{"bad backend url", map[string]string{"NEXT_PUBLIC_BACKEND_URL": "hub.example.com"}, "NEXT_PUBLIC_BACKEND_URL", nil},
		{"secret trimmed", map[string]string{"HUB_LISTEN": "0.0.0.0:80", "INTERNAL_API_SECRET": " s3cret\t"}, "", func(t *testing.T, c *Config) {
			if c.InternalAPISecret != "s3cret" {
				t.Errorf("secret = %q", c.InternalAPISecret)
			}
		}},
		{"blank secret, public listen", map[string]string{"HUB_LISTEN": "0.0.0.0:5080", "INTERNAL_API_SECRET": " "}, "INTERNAL_API_SECRET", nil},
		{"whitespace secret, public listen", map[string]string{"HUB_LISTEN": "0.0.0.0:5080", "INTERNAL_API_SECRET": "\t \n"}, "INTERNAL_API_SECRET", nil},
		{"blank secret, loopback", map[string]string{"INTERNAL_API_SECRET": "  "}, "INTERNAL_API_SECRET", nil},
		{"limits default", nil, "", func(t *testing.T, c *Config) {
			if c.WebhookRetention != 7*24*time.Hour || c.SSE.MaxPerTenant != 20 || c.SSE.WriteTimeout != 30*time.Second {
				t.Errorf("retention %s, sse %+v", c.WebhookRetention, c.SSE)
			}
		}},
		{"limits set", map[string]string{"HUB_WEBHOOK_RETENTION": "48h", "HUB_SSE_MAX_STREAMS_PER_TENANT": "5", "HUB_SSE_WRITE_TIMEOUT": "5s"}, "", func(t *testing.T, c *Config) {
			if c.WebhookRetention != 48*time.Hour || c.SSE.MaxPerTenant != 5 || c.SSE.WriteTimeout != 5*time.Second {
				t.Errorf("retention %s, sse %+v", c.WebhookRetention, c.SSE)
			}
		}},
		{"retention shorter than PagerDuty's retries", map[string]string{"HUB_WEBHOOK_RETENTION": "47h"}, "HUB_WEBHOOK_RETENTION", nil},
		{"retention not a duration", map[string]string{"HUB_WEBHOOK_RETENTION": "7d"}, "HUB_WEBHOOK_RETENTION", nil},
		{"no streams", map[string]string{"HUB_SSE_MAX_STREAMS_PER_TENANT": "0"}, "HUB_SSE_MAX_STREAMS_PER_TENANT", nil},
		{"stream limit not a number", map[string]string{"HUB_SSE_MAX_STREAMS_PER_TENANT": "many"}, "HUB_SSE_MAX_STREAMS_PER_TENANT", nil},
		{"write timeout too short", map[string]string{"HUB_SSE_WRITE_TIMEOUT": "10ms"}, "HUB_SSE_WRITE_TIMEOUT", nil},
		{"bad log format", map[string]string{"HUB_LOG_FORMAT": "xml"}, "HUB_LOG_FORMAT", nil},
		{"metrics listen", map[string]string{"HUB_METRICS_LISTEN": "0.0.0.0:9090"}, "", func(t *testing.T, c *Config) {
			if c.MetricsListen != "0.0.0.0:9090" {
				t.Errorf("MetricsListen = %q", c.MetricsListen)
			}
		}},
		{"metrics listen unset", nil, "", func(t *testing.T, c *Config) {
			if c.MetricsListen != "" {
				t.Errorf("MetricsListen = %q", c.MetricsListen)
			}
		}},
		{"bad metrics listen", map[string]string{"HUB_METRICS_LISTEN": "9090"}, "HUB_METRICS_LISTEN", nil},
		{"pprof on the metrics listener", map[string]string{"HUB_METRICS_LISTEN": "127.0.0.1:9090", "HUB_PPROF": "true"}, "", func(t *testing.T, c *Config) {
			if !c.Pprof {
				t.Error("Pprof = false")
			}
		}},
		{"pprof off by default", map[string]string{"HUB_METRICS_LISTEN": "127.0.0.1:9090"}, "", func(t *testing.T, c *Config) {
			if c.Pprof {
				t.Error("Pprof = true")
			}
		}},
		{"pprof without a metrics listener", map[string]string{"HUB_PPROF": "true"}, "HUB_PPROF", nil},
		{"pprof not a boolean", map[string]string{"HUB_METRICS_LISTEN": "127.0.0.1:9090", "HUB_PPROF": "on"}, "HUB_PPROF", nil},
		{"metrics listen on the API's address", map[string]string{"HUB_METRICS_LISTEN": "127.0.0.1:5080"}, "HUB_METRICS_LISTEN", nil},
		{"webhook reject log interval", map[string]string{"HUB_WEBHOOK_REJECT_LOG_INTERVAL": "1m"}, "", func(t *testing.T, c *Config) {
			if c.WebhookRejectLogInterval != time.Minute {
				t.Errorf("interval = %v", c.WebhookRejectLogInterval)
			}
		}},
		{"webhook reject log interval too short", map[string]string{"HUB_WEBHOOK_REJECT_LOG_INTERVAL": "1ms"}, "HUB_WEBHOOK_REJECT_LOG_INTERVAL", nil},
		{"enrichment budget defaults", nil, "", func(t *testing.T, c *Config) {
			if p := c.Pipeline; p.EnrichRateLimit != 900 || p.EnrichRateBurst != 30 || p.EnrichServiceWindow != 5*time.Minute {
				t.Errorf("enrichment budget = %d/min burst %d window %s", p.EnrichRateLimit, p.EnrichRateBurst, p.EnrichServiceWindow)
			}
		}},
		{"enrichment budget set", map[string]string{"HUB_ENRICH_RATE_LIMIT": "0", "HUB_ENRICH_RATE_BURST": "5", "HUB_ENRICH_SERVICE_WINDOW": "0s"}, "", func(t *testing.T, c *Config) {
			if p := c.Pipeline; p.EnrichRateLimit != 0 || p.EnrichRateBurst != 5 || p.EnrichServiceWindow != 0 {
				t.Errorf("enrichment budget = %d/min burst %d window %s", p.EnrichRateLimit, p.EnrichRateBurst, p.EnrichServiceWindow)
			}
		}},
		{"rate limit not a number", map[string]string{"HUB_ENRICH_RATE_LIMIT": "960/min"}, "HUB_ENRICH_RATE_LIMIT", nil},
		{"no burst", map[string]string{"HUB_ENRICH_RATE_BURST": "0"}, "HUB_ENRICH_RATE_BURST", nil},
		{"service window too long", map[string]string{"HUB_ENRICH_SERVICE_WINDOW": "2h"}, "HUB_ENRICH_SERVICE_WINDOW", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromEnv(tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr+":") {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestWebhookBaseURL(t *testing.T) {
	tests := []struct {
		backend, ngrok, want string
	}{
		{"https://hub.example.com", "https://n.ngrok.app", "https://hub.example.com"},
		{"http://localhost:5080", "https://n.ngrok.app", "https://n.ngrok.app"},
		{"http://127.0.0.1:5080", "https://n.ngrok.app", "https://n.ngrok.app"},
		{"", "https://n.ngrok.app/", "https://n.ngrok.app"},
		{"http://localhost:5080/", "", "http://localhost:5080"},
		{"", "", "http://127.0.0.1:5080"},
	}
	for _, tt := range tests {
		c, err := FromEnv(map[string]string{"NEXT_PUBLIC_BACKEND_URL": tt.backend, "NGROK_URL": tt.ngrok})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.WebhookBaseURL(); got != tt.want {
			t.Errorf("backend %q ngrok %q: %q, want %q", tt.backend, tt.ngrok, got, tt.want)
		}
	}
}
