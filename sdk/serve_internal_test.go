package sdk

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/aurora-hub/aurora-hub/sdk/proto/providerv1"
)

// echoHandler answers each delivery with its body as the delivery id and
// panics on "panic". With meet set, the first delivery waits (up to 5 s)
// for another to be handled at the same time: a batch handled on one
// goroutine shows as met never being closed.
type echoHandler struct {
	meet bool

	mu     sync.Mutex
	active int
	waited bool
	met    chan struct{}
}

func (h *echoHandler) HandleWebhook(_ context.Context, r *WebhookRequest) (*WebhookResult, error) {
	if string(r.Body) == "panic" {
		panic("delivery handler exploded")
	}
	if h.meet {
		h.mu.Lock()
		h.active++
		wait := !h.waited
		h.waited = true
		if h.active == 2 && !h.didMeet() {
			close(h.met)
		}
		h.mu.Unlock()
		if wait {
			select {
			case <-h.met:
			case <-time.After(5 * time.Second):
			}
		}
		h.mu.Lock()
		h.active--
		h.mu.Unlock()
	}
	return &WebhookResult{Verified: true, DeliveryID: string(r.Body)}, nil
}

func (h *echoHandler) didMeet() bool {
	select {
	case <-h.met:
		return true
	default:
		return false
	}
}

// TestHandleWebhooksSplitsABatchAcrossCores: a batch is answered in order,
// each delivery its own outcome (a panic fails only its delivery), and a
// batch of at least two cores' worth is handled on more than one goroutine.
func TestHandleWebhooksSplitsABatchAcrossCores(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	tests := []struct {
		name     string
		n        int
		panicAt  int // -1: none
		parallel bool
	}{
		{name: "one delivery", n: 1, panicAt: -1},
		{name: "below two cores' worth", n: 2*minWebhooksPerCore - 1, panicAt: -1},
		{name: "two cores' worth", n: 2 * minWebhooksPerCore, panicAt: -1, parallel: true},
		{name: "a full batch", n: 64, panicAt: -1, parallel: true},
		{name: "a full batch with a panic", n: 64, panicAt: 37, parallel: true},
		{name: "an uneven batch", n: 29, panicAt: 28, parallel: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &echoHandler{meet: tt.parallel, met: make(chan struct{})}
			s := &webhooksServer{w: h, log: hclog.NewNullLogger()}
			req := &pb.HandleWebhooksRequest{}
			for i := range tt.n {
				body := strconv.Itoa(i)
				if i == tt.panicAt {
					body = "panic"
				}
				req.Requests = append(req.Requests, &pb.HandleWebhookRequest{Body: []byte(body)})
			}
			res, err := s.HandleWebhooks(context.Background(), req)
			if err != nil {
				t.Fatalf("HandleWebhooks: %v", err)
			}
			if len(res.GetResults()) != tt.n {
				t.Fatalf("%d results for %d deliveries", len(res.GetResults()), tt.n)
			}
			for i, r := range res.GetResults() {
				if i == tt.panicAt {
					if r.GetError().GetCode() != string(CodeInternal) {
						t.Errorf("delivery %d (panicked): result %v, want error %s", i, r, CodeInternal)
					}
					continue
				}
				if got := r.GetResponse().GetDeliveryId(); got != strconv.Itoa(i) {
					t.Errorf("delivery %d: answered %q (error %v): answers out of order", i, got, r.GetError())
				}
			}
			if tt.parallel && !h.didMeet() {
				t.Errorf("%d deliveries were handled one at a time; want them split across cores", tt.n)
			}
		})
	}
}

// TestHandleWebhooksStopsWithItsContext: a batch whose call ended fails as
// a whole with the context's status, however it was split.
func TestHandleWebhooksStopsWithItsContext(t *testing.T) {
	for _, n := range []int{1, 64} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			s := &webhooksServer{w: &echoHandler{}, log: hclog.NewNullLogger()}
			req := &pb.HandleWebhooksRequest{}
			for i := range n {
				req.Requests = append(req.Requests, &pb.HandleWebhookRequest{Body: []byte(strconv.Itoa(i))})
			}
			_, err := s.HandleWebhooks(ctx, req)
			if status.Code(err) != codes.Canceled {
				t.Fatalf("HandleWebhooks with an ended context: %v, want %s", err, codes.Canceled)
			}
		})
	}
}
