package webhooks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/hashicorp/go-hclog"
)

// TestInboxAnswersEveryDeliveryAcrossItsStop: a delivery handed to the
// inbox is either committed or answered ErrClosed (a 503, which senders
// retry), never left waiting, whether it comes before the stop, after it,
// or while the writers finish; and what was committed is in the database.
func TestInboxAnswersEveryDeliveryAcrossItsStop(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			tests := []struct {
				name string
				// deliver hands n deliveries to the inbox, of which stop,
				// called once, stops it; it returns each delivery's error
				// (nil: committed).
				deliver func(t *testing.T, in *Inbox, conn *hub.Connection, n int, stop func()) []error
			}{
				{name: "records after the stop", deliver: func(t *testing.T, in *Inbox, conn *hub.Connection, n int, stop func()) []error {
					stop()
					return recordEach(in, conn, n, "after")
				}},
				{name: "a plugin batch after the stop", deliver: func(t *testing.T, in *Inbox, conn *hub.Connection, n int, stop func()) []error {
					stop()
					return answerBatch(t, in, conn, n, "batch")
				}},
				{name: "records racing the stop", deliver: func(t *testing.T, in *Inbox, conn *hub.Connection, n int, stop func()) []error {
					errs := make([]error, n)
					var wg sync.WaitGroup
					for s := range 8 {
						wg.Go(func() {
							for i := s; i < n; i += 8 {
								errs[i] = recordEach(in, conn, 1, fmt.Sprintf("race%04d-", i))[0]
							}
						})
					}
					time.Sleep(time.Millisecond)
					stop()
					wg.Wait()
					return errs
				}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					st := storetest.Open(t, driver)
					if err := jobs.Migrate(context.Background(), st, hclog.NewNullLogger()); err != nil {
						t.Fatal(err)
					}
					jc, err := jobs.New(st, jobs.Options{})
					if err != nil {
						t.Fatal(err)
					}
					conn := saveConnection(t, st, hub.Owner{UserID: "u1"})
					in := NewInbox(st, jc, pipeline.NewWakeups(st.Driver), hclog.NewNullLogger())
					ctx, cancel := context.WithCancel(context.Background())
					ran := make(chan struct{})
					go func() { in.Run(ctx); close(ran) }()
					stop := func() {
						cancel()
						select {
						case <-ran:
						case <-time.After(10 * time.Second):
							t.Fatal("the inbox did not stop")
						}
					}
					errs := tt.deliver(t, in, conn, 200, stop)
					committed := 0
					for i, err := range errs {
						switch {
						case err == nil:
							committed++
						case errors.Is(err, ErrClosed):
							if hub.ErrorCode(err) != hub.EUnavailable {
								t.Errorf("delivery %d: ErrClosed has code %s, want %s", i, hub.ErrorCode(err), hub.EUnavailable)
							}
						default:
							t.Errorf("delivery %d: %v; want it committed or ErrClosed", i, err)
						}
					}
					var stored int
					if err := st.Bun().NewSelect().Table("webhook_inbox").ColumnExpr("count(*)").Scan(context.Background(), &stored); err != nil {
						t.Fatal(err)
					}
					if stored != committed {
						t.Errorf("%d deliveries answered as committed, %d rows stored", committed, stored)
					}
				})
			}
		})
	}
}

// recordEach records n one-event deliveries through Record, each with a
// deadline far past any stop, and returns their errors.
func recordEach(in *Inbox, conn *hub.Connection, n int, prefix string) []error {
	errs := make([]error, n)
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rows, err := inboxRows(conn, &sdk.WebhookResult{Verified: true, Events: []sdk.Event{event(prefix, i)}}, time.Now().UTC())
		if err == nil {
			_, err = in.Record(ctx, conn.ID, rows)
		}
		cancel()
		errs[i] = err
	}
	return errs
}

// answerBatch hands n deliveries to the inbox as the plugin client does
// with a batch's answers (WebhookAnswer each, then WebhookBatchEnd), and
// returns what each delivery's waiter hears.
func answerBatch(t *testing.T, in *Inbox, conn *hub.Connection, n int, prefix string) []error {
	ds := make([]*delivery, n)
	for i := range ds {
		ds[i] = &delivery{pendingWrite: pendingWrite{connID: conn.ID, done: make(chan writeResult, 1)}, conn: conn}
		in.WebhookAnswer(ds[i], &sdk.WebhookResult{Verified: true, Events: []sdk.Event{event(prefix, i)}}, nil)
	}
	in.WebhookBatchEnd()
	errs := make([]error, n)
	for i, d := range ds {
		select {
		case r := <-d.done:
			errs[i] = r.err
		case <-time.After(10 * time.Second):
			t.Fatalf("delivery %d of the batch was never answered", i)
		}
	}
	return errs
}

func event(prefix string, i int) sdk.Event {
	return sdk.Event{ID: fmt.Sprintf("ev-%s%04d", prefix, i), Type: "incident.triggered", ResourceType: "incident",
		Incident: &sdk.Incident{ExternalID: fmt.Sprintf("P%s%04d", prefix, i), Title: "CPU hot", Status: "triggered"}}
}
