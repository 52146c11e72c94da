package host

import (
	"context"
	"slices"
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
	sink WebhookSink
	tag  any
}

// answer hands p's outcome to its sink.
func (p *pendingWebhook) answer(res *sdk.WebhookResult, err error) {
	p.sink.WebhookAnswer(p.tag, res, err)
}

// A WebhookSink takes the plugin's answers to deliveries sent with
// SendWebhook, on the goroutine that received them: WebhookAnswer once for
// each delivery (with its tag), then WebhookBatchEnd once for each sink
// that had a delivery in the batch, after that batch's answers. A busy hub
// so hands a batch's answers on together (to its inbox's group commit),
// where a goroutine woken for each answer would hand them on one at a
// time. Neither method may block for long: the next batch waits. A sink
// must be comparable (a pointer, typically): answers are grouped by it.
type WebhookSink interface {
	WebhookAnswer(tag any, res *sdk.WebhookResult, err error)
	WebhookBatchEnd()
}

// WebhookSender sends a delivery to the plugin without waiting for the
// answer: it goes to sink, with tag, possibly before SendWebhook returns.
// Every delivery gets exactly one answer.
type WebhookSender interface {
	SendWebhook(ctx context.Context, req *sdk.WebhookRequest, sink WebhookSink, tag any)
}

// waiting is the sink of HandleWebhook's callers: each answer goes to the
// channel its tag is.
type waiting struct{}

var waitingSink WebhookSink = waiting{}

func (waiting) WebhookAnswer(tag any, res *sdk.WebhookResult, err error) {
	tag.(chan webhookOutcome) <- webhookOutcome{res, err}
}

func (waiting) WebhookBatchEnd() {}

type webhookOutcome struct {
	res *sdk.WebhookResult
	err error
}

// handle sends req and waits for the plugin's answer.
func (b *webhookBatcher) handle(ctx context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResult, error) {
	done := make(chan webhookOutcome, 1)
	b.send(ctx, req, waitingSink, done)
	select {
	case o := <-done:
		return o.res, o.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// send queues req for the next batch; its answer goes to sink.
func (b *webhookBatcher) send(ctx context.Context, req *sdk.WebhookRequest, sink WebhookSink, tag any) {
	p := &pendingWebhook{ctx: ctx, req: webhookRequestToProto(req), sink: sink, tag: tag}
	b.mu.Lock()
	if b.unsupported {
		b.mu.Unlock()
		p.answer(b.c.handleOne(ctx, p.req))
		sink.WebhookBatchEnd()
		return
	}
	b.queue = append(b.queue, p)
	start := !b.sending
	b.sending = true
	b.mu.Unlock()
	if start {
		go b.sendAll()
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
		b.call(batch)
		endBatch(batch)
	}
}

// endBatch tells each sink with a delivery in batch that its answers are in.
func endBatch(batch []*pendingWebhook) {
	var ended [4]WebhookSink
	seen := ended[:0]
	for _, p := range batch {
		if !slices.Contains(seen, p.sink) {
			seen = append(seen, p.sink)
			p.sink.WebhookBatchEnd()
		}
	}
}

// call sends batch to the plugin and answers each of its deliveries.
func (b *webhookBatcher) call(batch []*pendingWebhook) {
	if len(batch) == 1 {
		p := batch[0]
		p.answer(b.c.handleOne(p.ctx, p.req))
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
			var wg sync.WaitGroup
			for _, p := range batch {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p.answer(b.c.handleOne(p.ctx, p.req))
				}()
			}
			wg.Wait() // the batch ends when every delivery is answered
			return
		}
		for _, p := range batch {
			p.answer(nil, ferr)
		}
		return
	}
	for i, r := range res.GetResults() {
		if pe := r.GetError(); pe != nil {
			batch[i].answer(nil, pluginErrorFromProto(pe))
			continue
		}
		batch[i].answer(webhookResultFromProto(r.GetResponse()), nil)
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
