package host

import (
	"context"
	"sync"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"

	pb "github.com/aurora-hub/aurora-hub/sdk/proto/providerv1"
)

// maxWebhookBatch bounds one HandleWebhooks call (256 KB bodies at most each).
const maxWebhookBatch = 64

// webhookBatcher gathers deliveries that arrive while a call to the plugin
// is in flight and sends them together as one HandleWebhooks call, the way
// a group commit gathers writes: an idle hub calls at once (no added
// latency), a busy one makes far fewer calls, each amortising gRPC's
// per-call cost. A plugin that predates HandleWebhooks is called one
// delivery at a time.
//
// The calls run on a sender goroutine, one per busy period, never on a
// caller's: a caller is typically an HTTP connection's goroutine, and a
// gRPC call takes it past 8 KB of stack, which the runtime then keeps
// (doubled) for as long as the goroutine stays busy. With hundreds of
// connections that was megabytes of stack in a storm, and each batch's
// fresh goroutine grew its stack anew.
type webhookBatcher struct {
	c *Client

	mu          sync.Mutex
	sending     bool // a sender goroutine runs
	queue       []*pendingWebhook
	unsupported bool
}

type pendingWebhook struct {
	ctx  context.Context
	req  *pb.HandleWebhookRequest
	done chan webhookOutcome
}

type webhookOutcome struct {
	res *sdk.WebhookResult
	err error
}

func (b *webhookBatcher) handle(ctx context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResult, error) {
	p := &pendingWebhook{ctx: ctx, req: webhookRequestToProto(req), done: make(chan webhookOutcome, 1)}
	b.mu.Lock()
	if b.unsupported {
		b.mu.Unlock()
		return b.c.handleOne(ctx, p.req)
	}
	b.queue = append(b.queue, p)
	start := !b.sending
	b.sending = true
	b.mu.Unlock()
	if start {
		go b.sendAll()
	}
	select {
	case o := <-p.done:
		return o.res, o.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// sendAll sends what is queued, a batch at a time, until nothing is.
func (b *webhookBatcher) sendAll() {
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.sending = false
			b.mu.Unlock()
			return
		}
		n := min(len(b.queue), maxWebhookBatch)
		batch := b.queue[:n:n]
		b.queue = append([]*pendingWebhook(nil), b.queue[n:]...)
		b.mu.Unlock()
		b.send(batch)
	}
}

func (b *webhookBatcher) send(batch []*pendingWebhook) {
	if len(batch) == 1 {
		p := batch[0]
		res, err := b.c.handleOne(p.ctx, p.req)
		p.done <- webhookOutcome{res, err}
		return
	}
	// The batch lives as long as its most patient caller.
	ctx, cancel := context.WithDeadline(context.Background(), latestDeadline(batch))
	defer cancel()
	req := &pb.HandleWebhooksRequest{Requests: make([]*pb.HandleWebhookRequest, len(batch))}
	for i, p := range batch {
		req.Requests[i] = p.req
	}
	res, err := b.c.webhooks.HandleWebhooks(ctx, req)
	if err == nil && len(res.GetResults()) != len(batch) {
		err = &sdk.Error{Code: sdk.CodeInternal, Message: "plugin answered a batch with the wrong number of results"}
	}
	if err != nil {
		ferr := fromStatus(err)
		if sdk.IsUnimplemented(ferr) {
			b.mu.Lock()
			b.unsupported = true
			b.mu.Unlock()
			for _, p := range batch {
				go func(p *pendingWebhook) {
					res, err := b.c.handleOne(p.ctx, p.req)
					p.done <- webhookOutcome{res, err}
				}(p)
			}
			return
		}
		for _, p := range batch {
			p.done <- webhookOutcome{err: ferr}
		}
		return
	}
	for i, r := range res.GetResults() {
		if pe := r.GetError(); pe != nil {
			batch[i].done <- webhookOutcome{err: pluginErrorFromProto(pe)}
			continue
		}
		batch[i].done <- webhookOutcome{res: webhookResultFromProto(r.GetResponse())}
	}
}

func latestDeadline(batch []*pendingWebhook) time.Time {
	latest := time.Now().Add(5 * time.Second)
	for _, p := range batch {
		if d, ok := p.ctx.Deadline(); ok && d.After(latest) {
			latest = d
		}
	}
	return latest
}
