package incidents_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/uptrace/bun"
)

var (
	t0     = time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
	owner1 = hub.Owner{UserID: "u1", OrgID: "org-1"}
	owner2 = hub.Owner{UserID: "u2"}
	src1   = incidents.Source{Provider: "pagerduty", OwnerKind: "org", OwnerID: "org-1", ConnectionID: "c1"}
	src2   = incidents.Source{Provider: "pagerduty", OwnerKind: "user", OwnerID: "u2", ConnectionID: "c2"}
)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

// full is a full PagerDuty incident as a webhook describes it.
func full(extID, status string, mods ...func(*sdk.Incident)) *sdk.Incident {
	in := &sdk.Incident{
		ExternalID: extID, Number: 42, Title: "Disk full on db-1", Status: status, Urgency: "high", Priority: "P2",
		Service:          &sdk.Reference{ID: "PSVC", Type: "service_reference", Summary: "API Service", HTMLURL: "https://acme.pagerduty.com/services/PSVC"},
		EscalationPolicy: &sdk.Reference{ID: "PEP", Type: "escalation_policy_reference", Summary: "Default"},
		Assignees:        []sdk.Reference{{ID: "PU1", Type: "user_reference", Summary: "Jane"}},
		Teams:            []sdk.Reference{{ID: "PT1", Type: "team_reference", Summary: "SRE"}},
		IncidentKey:      "key-" + extID, HTMLURL: "https://acme.pagerduty.com/incidents/" + extID,
		CreatedAt: t0.Add(-time.Minute),
	}
	for _, m := range mods {
		m(in)
	}
	return in
}

func event(id, typ string, when time.Time, in *sdk.Incident) sdk.Event {
	return sdk.Event{
		ID: id, Type: typ, ResourceType: "incident", OccurredAt: when, Incident: in,
		Agent: &sdk.Reference{ID: "PU1", Type: "user_reference", Summary: "Jane"},
		Data:  []byte(fmt.Sprintf(`{"id":%q,"type":"incident"}`, in.ExternalID)),
	}
}

func field(name, value string) sdk.CustomField {
	return sdk.CustomField{ID: "F-" + name, Name: name, DataType: "string", FieldType: "single_value", ValueJSON: []byte(value)}
}

// fieldsEvent is an incident.custom_field_values.updated event (partial).
func fieldsEvent(id, extID string, when time.Time, changed ...sdk.CustomField) sdk.Event {
	in := &sdk.Incident{ExternalID: extID, Partial: true, HasCustomFields: true, ChangedCustomFields: changed,
		HTMLURL: "https://acme.pagerduty.com/incidents/" + extID}
	return sdk.Event{ID: id, Type: "incident.custom_field_values.updated", ResourceType: "incident", OccurredAt: when, Incident: in,
		Data: []byte(`{"type":"incident_field_values"}`)}
}

func apply(t testing.TB, db *bun.DB, src incidents.Source, ev sdk.Event) (string, bool) {
	t.Helper()
	var id string
	var changed bool
	err := db.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		id, changed, err = incidents.Apply(ctx, tx, src, ev)
		return err
	})
	if err != nil {
		t.Fatalf("Apply(%s %s): %v", ev.Type, ev.ID, err)
	}
	return id, changed
}

func get(t testing.TB, db *bun.DB, o hub.Owner, id string) *hub.IncidentDetail {
	t.Helper()
	d, err := incidents.Get(context.Background(), db, o, id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return d
}

func timePtrEq(p *time.Time, want time.Time) bool { return p != nil && p.Equal(want) }

func forEachBackend(t *testing.T, fn func(t *testing.T, db *bun.DB)) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			fn(t, storetest.Open(t, driver).Bun())
		})
	}
}

func TestLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		steps := []struct {
			ev             sdk.Event
			status, pstat  string
			resolvedAt     *time.Time
			timelineLength int
		}{
			{event("e1", "incident.triggered", at(0), full("PINC", "triggered")), hub.IncidentInvestigating, "triggered", nil, 1},
			{event("e2", "incident.acknowledged", at(1), full("PINC", "acknowledged")), hub.IncidentInvestigating, "acknowledged", nil, 2},
			{event("e3", "incident.resolved", at(2), full("PINC", "resolved", func(in *sdk.Incident) { in.Assignees = nil })),
				hub.IncidentResolved, "resolved", ptrTime(at(2)), 3},
		}
		var id string
		for _, s := range steps {
			gotID, changed := apply(t, db, src1, s.ev)
			if !changed || (id != "" && gotID != id) {
				t.Fatalf("%s: id %q changed %v (first id %q)", s.ev.Type, gotID, changed, id)
			}
			id = gotID
			d := get(t, db, owner1, id)
			if d.Status != s.status || d.ProviderStatus != s.pstat || len(d.Timeline) != s.timelineLength {
				t.Fatalf("%s: status %s/%s timeline %d", s.ev.Type, d.Status, d.ProviderStatus, len(d.Timeline))
			}
			if (s.resolvedAt == nil) != (d.ResolvedAt == nil) || (s.resolvedAt != nil && !d.ResolvedAt.Equal(*s.resolvedAt)) {
				t.Fatalf("%s: resolvedAt %v, want %v", s.ev.Type, d.ResolvedAt, s.resolvedAt)
			}
		}
		d := get(t, db, owner1, id)
		checks := []struct {
			name string
			ok   bool
		}{
			{"provider", d.Provider == "pagerduty" && d.ExternalID == "PINC" && d.ConnectionID == "c1"},
			{"title", d.Title == "Disk full on db-1" && d.Number == 42 && d.IncidentKey == "key-PINC"},
			{"severity", d.Severity == hub.SeverityHigh && d.Priority == "P2" && d.Urgency == "high"},
			{"service", d.Service != nil && d.Service.Summary == "API Service" && d.Service.ID == "PSVC"},
			{"affected", len(d.AffectedServices) == 1 && d.AffectedServices[0] == "API Service"},
			{"escalation", d.EscalationPolicy != nil && d.EscalationPolicy.Summary == "Default"},
			{"assignees cleared on resolve", len(d.Assignees) == 0 && len(d.Teams) == 1},
			{"aurora", d.AuroraStatus == hub.AuroraIdle && d.Summary == nil && d.AnalyzedAt == nil && d.CorrelatedAlertCount == 0},
			{"alertFiredAt", d.AlertFiredAt.Equal(t0.Add(-time.Minute))},
			{"startedAt", d.StartedAt.Equal(at(0))},
			{"stateAt", timePtrEq(d.StateAt, at(2))},
			{"timeline", d.Timeline[0].EventID == "e1" && d.Timeline[2].Type == "incident.resolved" &&
				d.Timeline[0].Agent != nil && d.Timeline[0].Agent.Summary == "Jane" && string(d.Timeline[0].Data) == `{"id":"PINC","type":"incident"}`},
		}
		for _, c := range checks {
			if !c.ok {
				t.Errorf("%s: %+v", c.name, d.Incident)
			}
		}
	})
}

func ptrTime(t time.Time) *time.Time { return &t }

func TestOutOfOrderAndReopen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		id, _ := apply(t, db, src1, event("e1", "incident.triggered", at(0), full("PX", "triggered")))
		apply(t, db, src1, event("e3", "incident.resolved", at(3), full("PX", "resolved")))
		// An acknowledgement that happened before the resolution, delivered late.
		_, changed := apply(t, db, src1, event("e2", "incident.acknowledged", at(2), full("PX", "acknowledged", func(in *sdk.Incident) {
			in.Priority, in.Title = "P1", "older title"
		})))
		d := get(t, db, owner1, id)
		if !changed || d.Status != hub.IncidentResolved || d.ProviderStatus != "resolved" || !timePtrEq(d.ResolvedAt, at(3)) ||
			d.Severity != hub.SeverityHigh || d.Title != "Disk full on db-1" || len(d.Timeline) != 3 || !timePtrEq(d.StateAt, at(3)) {
			t.Fatalf("late ack moved the incident: changed %v %+v", changed, d.Incident)
		}
		// Timeline is in event order, not delivery order.
		if d.Timeline[1].EventID != "e2" {
			t.Fatalf("timeline order: %+v", d.Timeline)
		}
		// Reopen clears resolvedAt; resolving again sets it to the new time.
		apply(t, db, src1, event("e4", "incident.reopened", at(4), full("PX", "triggered")))
		d = get(t, db, owner1, id)
		if d.Status != hub.IncidentInvestigating || d.ProviderStatus != "triggered" || d.ResolvedAt != nil {
			t.Fatalf("after reopen: %+v", d.Incident)
		}
		apply(t, db, src1, event("e5", "incident.acknowledged", at(5), full("PX", "acknowledged")))
		apply(t, db, src1, event("e6", "incident.resolved", at(6), full("PX", "resolved")))
		d = get(t, db, owner1, id)
		if d.Status != hub.IncidentResolved || !timePtrEq(d.ResolvedAt, at(6)) {
			t.Fatalf("after second resolve: %+v", d.Incident)
		}
		// A later non-resolving state update on a resolved incident keeps resolvedAt.
		apply(t, db, src1, event("e7", "incident.priority_updated", at(7), full("PX", "resolved", func(in *sdk.Incident) { in.Priority = "P1" })))
		d = get(t, db, owner1, id)
		if !timePtrEq(d.ResolvedAt, at(6)) || d.Severity != hub.SeverityCritical {
			t.Fatalf("after priority update: %+v", d.Incident)
		}
	})
}

func TestDuplicateEventChangesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		evs := []sdk.Event{
			event("e1", "incident.triggered", at(0), full("PD", "triggered")),
			fieldsEvent("e2", "PD", at(1), field("env", `"prod"`)),
			event("e3", "incident.acknowledged", at(2), full("PD", "acknowledged")),
		}
		var id string
		for _, ev := range evs {
			id, _ = apply(t, db, src1, ev)
		}
		before := get(t, db, owner1, id)
		for _, ev := range evs {
			gotID, changed := apply(t, db, src1, ev)
			if changed || gotID != id {
				t.Fatalf("replay of %s: id %q changed %v", ev.ID, gotID, changed)
			}
		}
		after := get(t, db, owner1, id)
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("replay changed the incident:\n%+v\n%+v", before, after)
		}
	})
}

func TestIgnoredEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		for _, ev := range []sdk.Event{
			{ID: "p1", Type: "pagey.ping", ResourceType: "pagey", OccurredAt: at(0), Data: []byte(`{"message":"hi"}`)},
			{ID: "s1", Type: "service.updated", ResourceType: "service", OccurredAt: at(0)},
			{ID: "x1", Type: "something.new", ResourceType: "thing", OccurredAt: at(0)},
			{ID: "x2", Type: "incident.annotated", ResourceType: "incident", Incident: &sdk.Incident{Partial: true}},
		} {
			id, changed := apply(t, db, src1, ev)
			if id != "" || changed {
				t.Errorf("%s: %q %v", ev.Type, id, changed)
			}
		}
		items, _, err := incidents.List(context.Background(), db, owner1, incidents.Filter{})
		if err != nil || len(items) != 0 {
			t.Fatalf("List = %d, %v", len(items), err)
		}
	})
}

func TestSeverity(t *testing.T) {
	tests := []struct{ priority, urgency, want string }{
		{"P1", "low", hub.SeverityCritical},
		{"p1", "", hub.SeverityCritical},
		{"Critical", "low", hub.SeverityCritical},
		{"SEV1", "low", hub.SeverityCritical},
		{"Sev-1 Outage", "low", hub.SeverityCritical},
		{"P2", "low", hub.SeverityHigh},
		{"SEV-2 High", "low", hub.SeverityHigh},
		{"high", "low", hub.SeverityHigh},
		{"P3", "high", hub.SeverityMedium},
		{"Medium", "high", hub.SeverityMedium},
		{"sev3", "high", hub.SeverityMedium},
		{"P4", "high", hub.SeverityLow},
		{"low", "high", hub.SeverityLow},
		{"SEV4", "high", hub.SeverityLow},
		{"", "low", hub.SeverityMedium},
		{"", "high", hub.SeverityHigh},
		{"", "HIGH", hub.SeverityHigh},
		{"", "", hub.SeverityMedium},
		{"Urgent", "high", hub.SeverityHigh}, // a priority naming no level falls back to urgency
	}
	for _, tt := range tests {
		if got := incidents.Severity(tt.priority, tt.urgency); got != tt.want {
			t.Errorf("Severity(%q, %q) = %s, want %s", tt.priority, tt.urgency, got, tt.want)
		}
	}
	statuses := map[string]string{"triggered": hub.IncidentInvestigating, "acknowledged": hub.IncidentInvestigating,
		"resolved": hub.IncidentResolved, "Resolved": hub.IncidentResolved, "": hub.IncidentInvestigating}
	for in, want := range statuses {
		if got := incidents.Status(in); got != want {
			t.Errorf("Status(%q) = %s, want %s", in, got, want)
		}
	}
	// Through Apply, on a real database.
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		for i, tt := range tests {
			ext := fmt.Sprintf("PS%d", i)
			id, _ := apply(t, db, src1, event("sev-"+ext, "incident.triggered", at(i), full(ext, "triggered", func(in *sdk.Incident) {
				in.Priority, in.Urgency = tt.priority, tt.urgency
			})))
			if d := get(t, db, owner1, id); d.Severity != tt.want {
				t.Errorf("priority %q urgency %q: %s, want %s", tt.priority, tt.urgency, d.Severity, tt.want)
			}
		}
	})
}

func fieldValues(d *hub.IncidentDetail) map[string]string {
	out := map[string]string{}
	for _, f := range d.CustomFields {
		out[f.Name] = string(f.ValueJSON)
	}
	return out
}

func TestCustomFields(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		id, _ := apply(t, db, src1, event("e0", "incident.triggered", at(0), full("PCF", "triggered")))
		steps := []struct {
			ev   sdk.Event
			want map[string]string
		}{
			{fieldsEvent("f1", "PCF", at(1), field("env", `"prod"`), field("regions", `["eu","us"]`)),
				map[string]string{"env": `"prod"`, "regions": `["eu","us"]`}},
			{fieldsEvent("f2", "PCF", at(2), field("env", `"staging"`)),
				map[string]string{"env": `"staging"`, "regions": `["eu","us"]`}},
			{fieldsEvent("f3", "PCF", at(3), field("regions", `null`)),
				map[string]string{"env": `"staging"`}},
			// Older updates, delivered late, change nothing: not the value, not a cleared field.
			{fieldsEvent("f0", "PCF", at(0), field("env", `"dev"`), field("regions", `["ap"]`)),
				map[string]string{"env": `"staging"`}},
			{fieldsEvent("f4", "PCF", at(4), field("count", `3`), field("on", `true`)),
				map[string]string{"env": `"staging"`, "count": `3`, "on": `true`}},
		}
		for _, s := range steps {
			gotID, changed := apply(t, db, src1, s.ev)
			if gotID != id || !changed {
				t.Fatalf("%s: %q %v", s.ev.ID, gotID, changed)
			}
			d := get(t, db, owner1, id)
			if got := fieldValues(d); fmt.Sprint(got) != fmt.Sprint(s.want) {
				t.Fatalf("%s: fields %v, want %v", s.ev.ID, got, s.want)
			}
			if d.Status != hub.IncidentInvestigating || !timePtrEq(d.StateAt, at(0)) {
				t.Fatalf("%s: a partial event changed state: %+v", s.ev.ID, d.Incident)
			}
		}
		d := get(t, db, owner1, id)
		if f := d.CustomFields[0]; f.Name != "count" || f.ID != "F-count" || f.DataType != "string" || f.FieldType != "single_value" {
			t.Fatalf("field metadata: %+v", f)
		}
	})
}

func TestPlaceholderFilledByFullEvent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		id, changed := apply(t, db, src1, fieldsEvent("f1", "PPH", at(2), field("env", `"prod"`)))
		d := get(t, db, owner1, id)
		if !changed || d.Title != "" || d.ExternalID != "PPH" || d.StateAt != nil || d.Status != hub.IncidentInvestigating ||
			d.ProviderStatus != "" || d.HTMLURL == "" || len(d.CustomFields) != 1 {
			t.Fatalf("placeholder: %+v", d)
		}
		gotID, _ := apply(t, db, src1, event("e1", "incident.triggered", at(1), full("PPH", "triggered")))
		d = get(t, db, owner1, id)
		if gotID != id || d.Title != "Disk full on db-1" || d.ProviderStatus != "triggered" || d.Severity != hub.SeverityHigh ||
			!d.StartedAt.Equal(at(1)) || !d.AlertFiredAt.Equal(t0.Add(-time.Minute)) || len(d.Timeline) != 2 ||
			fieldValues(d)["env"] != `"prod"` || len(d.AffectedServices) != 1 {
			t.Fatalf("filled: %+v", d)
		}
		// A note (another partial event) changes no state either.
		note := sdk.Event{ID: "n1", Type: "incident.annotated", OccurredAt: at(9), Data: []byte(`{"type":"incident_note","content":"hi"}`),
			Incident: &sdk.Incident{ExternalID: "PPH", Partial: true}}
		apply(t, db, src1, note)
		if d2 := get(t, db, owner1, id); d2.ProviderStatus != "triggered" || !timePtrEq(d2.StateAt, at(1)) || len(d2.Timeline) != 3 {
			t.Fatalf("after note: %+v", d2.Incident)
		}
	})
}

func TestTenantIsolation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		id1, _ := apply(t, db, src1, event("e1", "incident.triggered", at(0), full("PSAME", "triggered")))
		id2, _ := apply(t, db, src2, event("e1", "incident.triggered", at(0), full("PSAME", "triggered")))
		if id1 == id2 {
			t.Fatal("two owners share one incident")
		}
		ctx := context.Background()
		tests := []struct {
			owner hub.Owner
			id    string
			found bool
		}{
			{owner1, id1, true}, {owner1, id2, false},
			{owner2, id2, true}, {owner2, id1, false},
			{hub.Owner{UserID: "u1"}, id1, false}, // the org's incident is not the user's own
			{owner1, "no-such-id", false},
		}
		for _, tt := range tests {
			_, err := incidents.Get(ctx, db, tt.owner, tt.id)
			var he *hub.Error
			if tt.found && err != nil || !tt.found && !(errors.As(err, &he) && he.Code == hub.ENotFound && he.Message == "Incident not found") {
				t.Errorf("Get(%v, %s) = %v", tt.owner, tt.id, err)
			}
			items, _, err := incidents.List(ctx, db, tt.owner, incidents.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				if it.OwnerKind != tt.owner.Kind() || it.OwnerID != tt.owner.ID() {
					t.Errorf("List(%v) returned %+v", tt.owner, it)
				}
			}
		}
	})
}

func TestList(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		const n = 130
		services := []string{"API Service", "Billing"}
		err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			for i := 0; i < n; i++ {
				ext := fmt.Sprintf("PL%03d", i)
				status := "triggered"
				if i%3 == 0 {
					status = "resolved"
				}
				// Every pair shares a start time, so the id breaks ties.
				in := full(ext, status, func(in *sdk.Incident) {
					in.Service = &sdk.Reference{ID: fmt.Sprintf("PS%d", i%2), Summary: services[i%2]}
					in.Priority = []string{"P1", "P2", "P3", "P4"}[i%4]
				})
				if _, _, err := incidents.Apply(ctx, tx, src1, event("e-"+ext, "incident.triggered", at(i/2), in)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Another tenant's incidents never show.
		apply(t, db, src2, event("other", "incident.triggered", at(1), full("POTHER", "triggered")))

		// Page through everything with the smallest and a middle page size.
		for _, limit := range []int{1, 50} {
			var all []hub.Incident
			cursor := ""
			for pages := 0; ; pages++ {
				items, next, err := incidents.List(ctx, db, owner1, incidents.Filter{Limit: limit, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				if len(items) > limit || pages > n {
					t.Fatalf("limit %d: page of %d", limit, len(items))
				}
				all = append(all, items...)
				if next == "" {
					break
				}
				cursor = next
			}
			if len(all) != n {
				t.Fatalf("limit %d: paged %d incidents, want %d", limit, len(all), n)
			}
			seen := map[string]bool{}
			for i, it := range all {
				if seen[it.ID] {
					t.Fatalf("limit %d: %s twice", limit, it.ID)
				}
				seen[it.ID] = true
				if i > 0 {
					prev := all[i-1]
					if prev.StartedAt.Before(it.StartedAt) || prev.StartedAt.Equal(it.StartedAt) && prev.ID < it.ID {
						t.Fatalf("limit %d: not newest first at %d", limit, i)
					}
				}
			}
		}
		items, next, err := incidents.List(ctx, db, owner1, incidents.Filter{})
		if err != nil || len(items) != incidents.DefaultLimit || next == "" {
			t.Fatalf("default limit: %d %q %v", len(items), next, err)
		}
		if items[0].ExternalID != "PL129" && items[0].ExternalID != "PL128" {
			t.Fatalf("newest first: %s", items[0].ExternalID)
		}
		items, next, err = incidents.List(ctx, db, owner1, incidents.Filter{Limit: incidents.MaxLimit})
		if err != nil || len(items) != n || next != "" {
			t.Fatalf("max limit: %d %q %v", len(items), next, err)
		}

		count := func(f incidents.Filter) int {
			t.Helper()
			f.Limit = incidents.MaxLimit
			items, _, err := incidents.List(ctx, db, owner1, f)
			if err != nil {
				t.Fatalf("List(%+v): %v", f, err)
			}
			return len(items)
		}
		filters := []struct {
			name string
			f    incidents.Filter
			want int
		}{
			{"resolved", incidents.Filter{Status: "resolved"}, 44},
			{"investigating", incidents.Filter{Status: "investigating"}, 86},
			{"provider status", incidents.Filter{Status: "triggered"}, 86},
			{"both", incidents.Filter{Status: "resolved, investigating"}, n},
			{"critical", incidents.Filter{Severity: "critical"}, 33},
			{"critical or low", incidents.Filter{Severity: "CRITICAL,low"}, 65},
			{"source", incidents.Filter{Source: "pagerduty"}, n},
			{"other source", incidents.Filter{Source: "opsgenie"}, 0},
			{"service name", incidents.Filter{Service: "billing"}, 65},
			{"service id", incidents.Filter{Service: "PS0"}, 65},
			{"since", incidents.Filter{Since: at(60)}, 10},
			{"until", incidents.Filter{Until: at(5)}, 10},
			{"window", incidents.Filter{Since: at(5), Until: at(10)}, 10},
			{"combined", incidents.Filter{Status: "resolved", Service: "API Service", Until: at(6)}, 2},
		}
		for _, tt := range filters {
			if got := count(tt.f); got != tt.want {
				t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
			}
		}
		bad := []struct {
			name string
			f    incidents.Filter
		}{
			{"negative limit", incidents.Filter{Limit: -1}},
			{"limit too big", incidents.Filter{Limit: incidents.MaxLimit + 1}},
			{"garbage cursor", incidents.Filter{Cursor: "not-a-cursor!"}},
			{"base64 non-json cursor", incidents.Filter{Cursor: "aGVsbG8"}},
			{"status", incidents.Filter{Status: "open"}},
			{"severity", incidents.Filter{Severity: "sev1"}},
			{"range", incidents.Filter{Since: at(5), Until: at(5)}},
		}
		for _, tt := range bad {
			_, _, err := incidents.List(ctx, db, owner1, tt.f)
			var he *hub.Error
			if !errors.As(err, &he) || he.Code != hub.EInvalid || he.Message == "" {
				t.Errorf("%s: %v", tt.name, err)
			}
		}
	})
}

// TestConcurrentApply applies the events of one incident from several
// workers at once, each event twice and in random order: the result is the
// same as applying them in order once.
func TestConcurrentApply(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		var evs []sdk.Event
		evs = append(evs, event("c-trigger", "incident.triggered", at(0), full("PCC", "triggered")))
		for i := 1; i <= 20; i++ {
			status, typ := "acknowledged", "incident.acknowledged"
			if i%2 == 0 {
				status, typ = "triggered", "incident.unacknowledged"
			}
			evs = append(evs, event(fmt.Sprintf("c-state-%d", i), typ, at(i), full("PCC", status, func(in *sdk.Incident) {
				in.Priority = fmt.Sprintf("P%d", i%4+1)
			})))
			evs = append(evs, fieldsEvent(fmt.Sprintf("c-field-%d", i), "PCC", at(i), field("step", fmt.Sprint(i)), field(fmt.Sprintf("f%d", i%3), `"x"`)))
		}
		evs = append(evs, event("c-resolve", "incident.resolved", at(30), full("PCC", "resolved", func(in *sdk.Incident) { in.Priority = "P1" })))

		work := append(append([]sdk.Event(nil), evs...), evs...)
		rand.New(rand.NewSource(1)).Shuffle(len(work), func(i, j int) { work[i], work[j] = work[j], work[i] })
		const workers = 8
		ch := make(chan sdk.Event)
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			ids     = map[string]bool{}
			changes int
			errs    []error
		)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ev := range ch {
					err := db.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
						id, changed, err := incidents.Apply(ctx, tx, src1, ev)
						if err == nil {
							mu.Lock()
							ids[id] = true
							if changed {
								changes++
							}
							mu.Unlock()
						}
						return err
					})
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}
			}()
		}
		for _, ev := range work {
			ch <- ev
		}
		close(ch)
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("%d errors, first: %v", len(errs), errs[0])
		}
		if len(ids) != 1 || changes != len(evs) {
			t.Fatalf("ids %v, %d changes for %d events", ids, changes, len(evs))
		}
		var id string
		for id = range ids {
		}
		d := get(t, db, owner1, id)
		if d.Status != hub.IncidentResolved || d.ProviderStatus != "resolved" || !timePtrEq(d.ResolvedAt, at(30)) ||
			!timePtrEq(d.StateAt, at(30)) || d.Severity != hub.SeverityCritical || d.Title == "" ||
			!d.StartedAt.Equal(at(0)) || len(d.Timeline) != len(evs) {
			t.Fatalf("final state: %+v (timeline %d)", d.Incident, len(d.Timeline))
		}
		if got := fieldValues(d); got["step"] != "20" || len(got) != 4 {
			t.Fatalf("fields: %v", got)
		}
		items, _, err := incidents.List(context.Background(), db, owner1, incidents.Filter{})
		if err != nil || len(items) != 1 {
			t.Fatalf("List: %d %v", len(items), err)
		}
	})
}
