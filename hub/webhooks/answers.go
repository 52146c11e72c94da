package webhooks

import (
	"context"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/host"
)

// delivery is a delivery sent to the plugin by Send, while the plugin or
// the inbox has it.
type delivery struct {
	pendingWrite
	conn *hub.Connection
	// res is the plugin's answer, set before done is sent.
	res *sdk.WebhookResult
}

// Send has the plugin verify and parse a delivery for conn, and records its
// events as the plugin's answer arrives: the inbox takes the answers to a
// plugin batch on the goroutine that received them (as the plugin client's
// host.WebhookSink) and commits them together, so that only one goroutine
// waits for a delivery, from the request to its commit. Handing the
// answers over one handler at a time cost every delivery one more wake-up
// of its handler, and the writer, woken by the first, committed a few
// deliveries at a time (rounds 23 and 26 in docs/performance-history.md).
//
// res is the plugin's answer, nil when the plugin refused the delivery
// (err is then its error); inserted is how many of its events were new.
func (i *Inbox) Send(ctx context.Context, plugin host.WebhookSender, conn *hub.Connection, req *sdk.WebhookRequest) (res *sdk.WebhookResult, inserted int, err error) {
	d := &delivery{pendingWrite: pendingWrite{connID: conn.ID, done: make(chan writeResult, 1)}, conn: conn}
	plugin.SendWebhook(ctx, req, i, d)
	select {
	case r := <-d.done:
		return d.res, r.inserted, r.err
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
}

// WebhookAnswer implements host.WebhookSink: a delivery the plugin accepted
// waits, with the rest of its batch, for WebhookBatchEnd.
func (i *Inbox) WebhookAnswer(tag any, res *sdk.WebhookResult, err error) {
	d := tag.(*delivery)
	if err != nil {
		d.done <- writeResult{err: err}
		return
	}
	d.res = res
	if d.rows, err = inboxRows(d.conn, res, time.Now().UTC()); err != nil {
		d.done <- writeResult{err: err}
		return
	}
	i.answeredMu.Lock()
	i.answered = append(i.answered, &d.pendingWrite)
	i.answeredMu.Unlock()
}

// WebhookBatchEnd implements host.WebhookSink: the batch's accepted
// deliveries go to the writer as one. It needs no context: the hand-over
// waits only while the writers, which run until the inbox closes, have a
// full channel, and once the inbox is closed its deliveries are answered
// ErrClosed.
func (i *Inbox) WebhookBatchEnd() {
	i.answeredMu.Lock()
	batch := i.answered
	i.answered = nil
	i.answeredMu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err := i.hand(context.Background(), &pendingWrite{batch: batch}); err != nil {
		for _, p := range batch {
			p.done <- writeResult{err: err}
		}
	}
}
