package sdk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/aurora-hub/aurora-hub/sdk/proto/providerv1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// echoHandler answers each delivery with an event whose id is the body,
// fails bodies starting with "bad", and holds the first call until release.
type echoHandler struct {
	release chan struct{}
	first   sync.Once
}

func (h *echoHandler) HandleWebhook(ctx context.Context, req *WebhookRequest) (*WebhookResult, error) {
	h.first.Do(func() { <-h.release })
	if strings.HasPrefix(string(req.Body), "bad") {
		return nil, &Error{Code: CodeUnauthenticated, Message: "Invalid webhook signature " + string(req.Body), RetryAfter: time.Second}
	}
	return &WebhookResult{Verified: true, Events: []Event{{ID: string(req.Body), Type: "t"}}}, nil
}

// countingServer serves h, counting calls; legacy answers HandleWebhooks
// with Unimplemented, as a plugin built with SDK 1.0 would.
type countingServer struct {
	webhooksServer
	single, batch atomic.Int32
	legacy        bool
}

func (s *countingServer) HandleWebhook(ctx context.Context, r *pb.HandleWebhookRequest) (*pb.HandleWebhookResponse, error) {
	s.single.Add(1)
	return s.webhooksServer.HandleWebhook(ctx, r)
}

func (s *countingServer) HandleWebhooks(ctx context.Context, r *pb.HandleWebhooksRequest) (*pb.HandleWebhooksResponse, error) {
	if s.legacy {
		return s.webhooksServer.UnimplementedWebhooksServer.HandleWebhooks(ctx, r)
	}
	s.batch.Add(1)
	return s.webhooksServer.HandleWebhooks(ctx, r)
}

func startWebhooks(t *testing.T, legacy bool) (*Client, *countingServer, *echoHandler) {
	t.Helper()
	h := &echoHandler{release: make(chan struct{})}
	srv := &countingServer{webhooksServer: webhooksServer{w: h}, legacy: legacy}
	gs := grpc.NewServer()
	pb.RegisterWebhooksServer(gs, srv)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(l)
	t.Cleanup(gs.Stop)
	cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return newClient(cc), srv, h
}

func TestWebhookBatching(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			c, srv, h := startWebhooks(t, legacy)
			const n = 20
			type answer struct {
				id  string
				err error
			}
			answers := make([]answer, n)
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					body := fmt.Sprintf("ok-%d", i)
					if i%5 == 4 {
						body = fmt.Sprintf("bad-%d", i)
					}
					res, err := c.HandleWebhook(context.Background(), &WebhookRequest{Body: []byte(body)})
					if err == nil {
						answers[i].id = res.Events[0].ID
					}
					answers[i].err = err
				}(i)
				if i == 0 {
					time.Sleep(50 * time.Millisecond) // the first call is in flight and held
				}
			}
			time.Sleep(100 * time.Millisecond) // the rest queue behind it
			close(h.release)
			wg.Wait()
			for i, a := range answers {
				if i%5 == 4 {
					var e *Error
					if a.err == nil || !errors.As(a.err, &e) || e.Code != CodeUnauthenticated || e.Message != fmt.Sprintf("Invalid webhook signature bad-%d", i) || e.RetryAfter != time.Second {
						t.Errorf("call %d: err = %v, want its own unauthenticated error", i, a.err)
					}
					continue
				}
				if a.err != nil || a.id != fmt.Sprintf("ok-%d", i) {
					t.Errorf("call %d = %q, %v; want its own event", i, a.id, a.err)
				}
			}
			calls := srv.single.Load() + srv.batch.Load()
			if legacy {
				if srv.single.Load() != n {
					t.Errorf("legacy plugin got %d single calls, want %d", srv.single.Load(), n)
				}
			} else if srv.batch.Load() == 0 || calls >= n {
				t.Errorf("%d calls (%d batches) for %d concurrent deliveries: nothing was batched", calls, srv.batch.Load(), n)
			}
		})
	}
}
