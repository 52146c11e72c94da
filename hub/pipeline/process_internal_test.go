package pipeline

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/sdk"
)

// TestPluginError: the hub's and the plugins' errors are one type, so the
// enrichment tells a plugin's unavailability or rate limit (snoozed,
// retried) from a connection's credentials failing with the same codes
// (recorded as failed).
func TestPluginError(t *testing.T) {
	unavailable := &sdk.Error{Code: sdk.CodeUnavailable, Message: "Provider plugin unavailable, retry later"}
	tests := []struct {
		name string
		err  error
		want *sdk.Error
	}{
		{"the plugin's", unavailable, unavailable},
		{"the plugin's, wrapped", fmt.Errorf("enriching: %w", unavailable), unavailable},
		{"a credential that cannot be refreshed", &credentialsError{hub.Errorf(hub.EUnavailable, "OAuth is not configured for pagerduty")}, nil},
		{"a credential, wrapped", fmt.Errorf("gathering: %w", &credentialsError{hub.Errorf(hub.ERateLimited, "slow down")}), nil},
		{"not an SDK error", errors.New("disk full"), nil},
		{"none", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pluginError(tt.err); got != tt.want {
				t.Errorf("pluginError(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	// The recorded message is the hub error's, through the wrapper.
	if got := errorMessage(&credentialsError{hub.Errorf(hub.EUnauthorized, "Token expired")}); got != "Token expired" {
		t.Errorf("errorMessage = %q", got)
	}
}

// TestInArrivalOrder: a chunk's new incidents are processed in the order of
// their first event, whatever order ApplyBatch reports them in.
func TestInArrivalOrder(t *testing.T) {
	tests := []struct {
		name    string
		results []string // incident of each event, in arrival order
		opened  []string
		want    []string
	}{
		{"keys sorted differently", []string{"c", "a", "b"}, []string{"a", "b", "c"}, []string{"c", "a", "b"}},
		{"repeated and not opened", []string{"x", "b", "x", "a", "b"}, []string{"a", "b"}, []string{"b", "a"}},
		{"none", []string{"x"}, nil, []string{}},
		{"without an event", []string{"b"}, []string{"a", "b"}, []string{"b", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results := make([]incidents.Result, len(tt.results))
			for i, id := range tt.results {
				results[i] = incidents.Result{IncidentID: id}
			}
			if got := inArrivalOrder(results, tt.opened); !slices.Equal(got, tt.want) {
				t.Errorf("inArrivalOrder = %v, want %v", got, tt.want)
			}
		})
	}
}
