package live_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/live"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
)

// TestPublishAllReachesEveryReplicaInOrder: a transaction's updates reach
// each tenant's subscribers in the order published, on another replica
// too, and on PostgreSQL they leave in one statement (they took one each,
// a round trip and a commit apiece, after every apply transaction).
func TestPublishAllReachesEveryReplicaInOrder(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			log := hclog.NewNullLogger()
			sender := live.New(nil, false, log)
			receiver := sender
			notifies := new(atomic.Int64) // statements that send notifications
			var counter *pgx.Conn         // LISTENs, to count the notifications
			if driver == "postgres" {
				opts := storetest.Options(t, driver)
				st, err := store.Open(ctx, opts)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				notifies = storetest.CountQueries(st.Bun(), func(q string) bool { return strings.Contains(q, "pg_notify") })
				sender, receiver = live.New(st, true, log), live.New(st, true, log)
				go receiver.Listen(ctx, opts.URL) //nolint:errcheck // ends with ctx
				if counter, err = pgx.Connect(ctx, opts.URL); err != nil {
					t.Fatal(err)
				}
				defer counter.Close(context.Background())
				if _, err := counter.Exec(ctx, "LISTEN aurora_hub_live"); err != nil {
					t.Fatal(err)
				}
			}
			subA, err := receiver.Subscribe("org", "a")
			if err != nil {
				t.Fatal(err)
			}
			defer receiver.Unsubscribe(subA)
			subB, err := receiver.Subscribe("org", "b")
			if err != nil {
				t.Fatal(err)
			}
			defer receiver.Unsubscribe(subB)
			if driver == "postgres" {
				waitListening(t, sender, subA)
			}

			var batch []live.Update
			var wantA, wantB []string
			for i := range 40 {
				id := fmt.Sprintf("inc-%02d", i)
				owner := "a"
				if i%4 == 3 {
					owner, wantB = "b", append(wantB, id)
				} else {
					wantA = append(wantA, id)
				}
				batch = append(batch, live.Update{OwnerKind: "org", OwnerID: owner,
					Event: live.Event{Type: live.IncidentUpdate, IncidentID: id, Source: "pagerduty"}})
			}
			before := notifies.Load()
			sender.PublishAll(ctx, batch)
			if got := receive(t, subA, len(wantA)); strings.Join(got, ",") != strings.Join(wantA, ",") {
				t.Errorf("tenant a received %v, want %v", got, wantA)
			}
			if got := receive(t, subB, len(wantB)); strings.Join(got, ",") != strings.Join(wantB, ",") {
				t.Errorf("tenant b received %v, want %v", got, wantB)
			}
			if driver == "postgres" {
				if n := notifies.Load() - before; n != 1 {
					t.Errorf("40 updates sent in %d statements, want 1", n)
				}
				// The probes, then the 40 updates in one notification.
				var last string
				notifications := 0
				for {
					wait, stop := context.WithTimeout(ctx, 500*time.Millisecond)
					n, err := counter.WaitForNotification(wait)
					stop()
					if err != nil {
						break
					}
					if strings.Contains(n.Payload, "inc-00") {
						notifications++
					}
					last = n.Payload
				}
				if notifications != 1 || !strings.Contains(last, "inc-39") {
					t.Errorf("40 updates sent in %d notifications, want 1 (the last: %.80s)", notifications, last)
				}
			}
		})
	}
}

// waitListening publishes a probe until the receiving replica's listener
// delivers it (it connects in the background).
func waitListening(t *testing.T, sender *live.Broker, sub *live.Subscription) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		sender.Publish(context.Background(), "org", "a", live.Event{Type: live.IncidentUpdate, IncidentID: "probe"})
		select {
		case <-sub.C:
			for { // drain the probes still in flight
				select {
				case <-sub.C:
				case <-time.After(300 * time.Millisecond):
					return
				}
			}
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatal("the other replica's listener never received a probe")
}

// receive reads n events' incident ids from sub.
func receive(t *testing.T, sub *live.Subscription, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		select {
		case ev := <-sub.C:
			got = append(got, ev.IncidentID)
		case <-time.After(5 * time.Second):
			t.Fatalf("received %d of %d events: %v", len(got), n, got)
		}
	}
	return got
}
