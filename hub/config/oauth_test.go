package config

import (
	"slices"
	"testing"
	"time"
)

func TestOAuthSettings(t *testing.T) {
	c, err := FromEnv(map[string]string{
		"NEXT_PUBLIC_ENABLE_PAGERDUTY_OAUTH": "true", "PAGERDUTY_CLIENT_ID": " cid ",
		"HUB_OAUTH_STATE_TTL": "90s", "HUB_LISTEN": "127.0.0.1:5999",
	})
	if err != nil {
		t.Fatal(err)
	}
	oc := c.OAuthClient("pagerduty")
	if !oc.Enabled || oc.ClientID != "cid" || !slices.Equal(oc.Missing, []string{"PAGERDUTY_CLIENT_SECRET"}) {
		t.Fatalf("OAuthClient = %+v", oc)
	}
	if c.OAuthStateTTL != 90*time.Second || c.OAuthRefreshMargin != DefaultOAuthRefreshMargin {
		t.Fatalf("durations %s %s", c.OAuthStateTTL, c.OAuthRefreshMargin)
	}
	if got := c.OAuthRedirectURL("pagerduty"); got != "http://127.0.0.1:5999/pagerduty/oauth/callback" {
		t.Fatalf("redirect URL %s", got)
	}
	c, _ = FromEnv(map[string]string{"NEXT_PUBLIC_BACKEND_URL": "https://hub.example.com/"})
	if got := c.OAuthRedirectURL("pagerduty"); got != "https://hub.example.com/pagerduty/oauth/callback" {
		t.Fatalf("redirect URL %s", got)
	}
	if c.OAuthClient("pagerduty").Enabled || c.OAuthStateTTL != DefaultOAuthStateTTL {
		t.Fatalf("defaults %+v", c)
	}
	for _, env := range []map[string]string{{"HUB_OAUTH_STATE_TTL": "soon"}, {"HUB_OAUTH_STATE_TTL": "2h"}, {"HUB_OAUTH_REFRESH_MARGIN": "-1s"}} {
		if _, err := FromEnv(env); err == nil {
			t.Errorf("%v accepted", env)
		}
	}
}
