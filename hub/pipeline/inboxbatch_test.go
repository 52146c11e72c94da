package pipeline_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/host"
)

// batchingPlugin answers deliveries as the plugin client does under load:
// once size of them are waiting, all of them on one goroutine (the one that
// received the batch), then the end of the batch. Bodies starting with
// "bad" are refused; the others become one incident event each.
type batchingPlugin struct {
	size int

	mu      sync.Mutex
	waiting []sentWebhook
}

type sentWebhook struct {
	req  *sdk.WebhookRequest
	sink host.WebhookSink
	tag  any
}

func (p *batchingPlugin) SendWebhook(_ context.Context, req *sdk.WebhookRequest, sink host.WebhookSink, tag any) {
	p.mu.Lock()
	p.waiting = append(p.waiting, sentWebhook{req, sink, tag})
	var batch []sentWebhook
	if len(p.waiting) == p.size {
		batch, p.waiting = p.waiting, nil
	}
	p.mu.Unlock()
	if batch != nil {
		go func() {
			for _, w := range batch {
				body := string(w.req.Body)
				if body[:3] == "bad" {
					w.sink.WebhookAnswer(w.tag, nil, &sdk.Error{Code: sdk.CodeUnauthenticated, Message: "Invalid webhook signature"})
					continue
				}
				at := time.Now().UTC()
				w.sink.WebhookAnswer(w.tag, &sdk.WebhookResult{Verified: true, Events: []sdk.Event{{
					ID: "ev-" + body, Type: "incident.triggered", ResourceType: "incident", OccurredAt: at,
					Incident: &sdk.Incident{ExternalID: body, Title: "CPU hot", Status: "triggered", Urgency: "high", CreatedAt: at},
				}}}, nil)
			}
			batch[0].sink.WebhookBatchEnd()
		}()
	}
}

// TestInboxCommitsAPluginBatchTogether: the answers to a plugin batch go
// into one commit, each delivery told its own outcome (a refused one its
// error, a redelivered one that nothing was new). Before round 26 each
// answer woke its handler, which handed its rows over alone: the writer,
// woken by the first, committed a few at a time (145 to 160 commits for
// 160 deliveries on one P before round 23, which had the writer yield
// first while the hub was saturated).
func TestInboxCommitsAPluginBatchTogether(t *testing.T) {
	const (
		rounds = 10
		batch  = 16 // deliveries a plugin batch answers
	)
	ctx := context.Background()
	st := storetest.Open(t, "sqlite")
	wakeups := pipeline.NewWakeups(st.Driver)
	inbox := startInbox(t, st, pipelineJobs(t, st, testDeps(st), pipeline.WorkerOptions{Wakeups: wakeups}), wakeups)
	commits := storetest.CountQueries(st.Bun(), func(q string) bool { return q == "COMMIT" })
	conn := &hub.Connection{ID: "conn-1", Provider: "pagerduty", OwnerKind: "user", OwnerID: "u1"}
	plugin := &batchingPlugin{size: batch}

	for round := range rounds {
		var wg sync.WaitGroup
		for i := range batch {
			body := fmt.Sprintf("P%02d%02d", round, i)
			switch {
			case i == 3:
				body = "bad" + body
			case i == 5 && round > 0:
				body = "P0005" // a redelivery of the first round's
			}
			wg.Go(func() {
				res, n, err := inbox.Send(ctx, plugin, conn, &sdk.WebhookRequest{Body: []byte(body)})
				switch {
				case body[:3] == "bad":
					if res != nil || sdk.ErrorCode(err) != sdk.CodeUnauthenticated {
						t.Errorf("%s: %v, %v; want the plugin's refusal", body, res, err)
					}
				case i == 5 && round > 0:
					if res == nil || n != 0 || err != nil {
						t.Errorf("redelivered %s: %v, %d new, %v; want nothing new", body, res, n, err)
					}
				case res == nil || n != 1 || err != nil:
					t.Errorf("%s: %v, %d new, %v; want one new event", body, res, n, err)
				}
			})
		}
		wg.Wait()
	}
	if n := commits.Load(); n != rounds {
		t.Errorf("%d plugin batches went into %d commits, want one each", rounds, n)
	}
	var rows int
	if err := st.Bun().NewSelect().Table("webhook_inbox").ColumnExpr("count(*)").Scan(ctx, &rows); err != nil {
		t.Fatal(err)
	}
	if want := rounds*(batch-2) + 1; rows != want {
		t.Errorf("%d rows recorded, want %d", rows, want)
	}
}
