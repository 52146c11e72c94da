package host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/internal/protocol"
	pb "github.com/aurora-hub/aurora-hub/sdk/proto/providerv1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// echoHandler answers each delivery with an event whose id is the body,
// fails bodies starting with "bad", and holds the first call until release.
type echoHandler struct {
	release chan struct{}
	first   sync.Once
}

func (h *echoHandler) HandleWebhook(ctx context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResult, error) {
	h.first.Do(func() { <-h.release })
	if strings.HasPrefix(string(req.Body), "bad") {
		return nil, &sdk.Error{Code: sdk.CodeUnauthenticated, Message: "Invalid webhook signature " + string(req.Body), RetryAfter: time.Second}
	}
	return &sdk.WebhookResult{Verified: true, Events: []sdk.Event{{ID: string(req.Body), Type: "t"}}}, nil
}

// countingServer serves h as a plugin built on the SDK would (errors as
// the SDK encodes them), counting calls; legacy answers HandleWebhooks with
// Unimplemented, as a plugin built with SDK 1.0 would.
type countingServer struct {
	pb.UnimplementedWebhooksServer
	h             *echoHandler
	single, batch atomic.Int32
	legacy        bool
}

func (s *countingServer) handle(ctx context.Context, r *pb.HandleWebhookRequest) (*pb.HandleWebhookResponse, *sdk.Error) {
	res, err := s.h.HandleWebhook(ctx, &sdk.WebhookRequest{Body: r.GetBody()})
	if err != nil {
		return nil, err.(*sdk.Error)
	}
	return &pb.HandleWebhookResponse{Verified: res.Verified, Events: []*pb.Event{{Id: res.Events[0].ID, Type: res.Events[0].Type}}}, nil
}

func (s *countingServer) HandleWebhook(ctx context.Context, r *pb.HandleWebhookRequest) (*pb.HandleWebhookResponse, error) {
	s.single.Add(1)
	res, e := s.handle(ctx, r)
	if e != nil {
		st, _ := status.New(protocol.Codes[string(e.Code)], e.Message).WithDetails(
			&errdetails.ErrorInfo{Domain: protocol.ErrorDomain, Reason: string(e.Code)},
			&errdetails.RetryInfo{RetryDelay: durationpb.New(e.RetryAfter)})
		return nil, st.Err()
	}
	return res, nil
}

func (s *countingServer) HandleWebhooks(ctx context.Context, r *pb.HandleWebhooksRequest) (*pb.HandleWebhooksResponse, error) {
	if s.legacy {
		return s.UnimplementedWebhooksServer.HandleWebhooks(ctx, r)
	}
	s.batch.Add(1)
	out := &pb.HandleWebhooksResponse{}
	for _, req := range r.GetRequests() {
		res, e := s.handle(ctx, req)
		if e != nil {
			out.Results = append(out.Results, &pb.HandleWebhookResult{Error: &pb.PluginError{Code: string(e.Code), Message: e.Message, RetryAfter: durationpb.New(e.RetryAfter)}})
			continue
		}
		out.Results = append(out.Results, &pb.HandleWebhookResult{Response: res})
	}
	return out, nil
}

func startWebhooks(t *testing.T, legacy bool, opts ...grpc.DialOption) (*Client, *countingServer, *echoHandler) {
	t.Helper()
	h := &echoHandler{release: make(chan struct{})}
	srv := &countingServer{h: h, legacy: legacy}
	gs := grpc.NewServer()
	pb.RegisterWebhooksServer(gs, srv)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(l)
	t.Cleanup(gs.Stop)
	cc, err := grpc.NewClient(l.Addr().String(), append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
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
					res, err := c.HandleWebhook(context.Background(), &sdk.WebhookRequest{Body: []byte(body)})
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
					var e *sdk.Error
					if a.err == nil || !errors.As(a.err, &e) || e.Code != sdk.CodeUnauthenticated || e.Message != fmt.Sprintf("Invalid webhook signature bad-%d", i) || e.RetryAfter != time.Second {
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

// goroutineID is the current goroutine's number, from its stack's header.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := strings.Cut(strings.TrimPrefix(string(buf), "goroutine "), " ")
	return id
}

// TestWebhookCallsRunOffTheCallersGoroutine: the gRPC call runs on the
// batcher's sender, never on the goroutine of the caller (an HTTP
// connection's, in the hub), even when the hub is idle and the call is
// sent at once: a gRPC call takes a goroutine's stack past 8 KB, and the
// runtime keeps it at the size it grew to while the connection is busy.
func TestWebhookCallsRunOffTheCallersGoroutine(t *testing.T) {
	var mu sync.Mutex
	var ran []string
	record := grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		mu.Lock()
		ran = append(ran, goroutineID())
		mu.Unlock()
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	c, _, h := startWebhooks(t, false, record)
	close(h.release)
	for i := range 5 { // one at a time: an idle hub's path
		caller := goroutineID()
		res, err := c.HandleWebhook(context.Background(), &sdk.WebhookRequest{Body: []byte(fmt.Sprint("ok-", i))})
		if err != nil || res.Events[0].ID != fmt.Sprint("ok-", i) {
			t.Fatalf("call %d = %v, %v", i, res, err)
		}
		mu.Lock()
		if len(ran) != i+1 || ran[i] == caller {
			t.Errorf("call %d ran on goroutines %v; the caller is %s", i, ran, caller)
		}
		mu.Unlock()
	}
}

// recordingSink notes what it is told, in order: each answer's tag and
// outcome, and "end" for each batch end.
type recordingSink struct {
	mu     sync.Mutex
	events []string
	all    chan struct{} // closed once want answers and a batch end after them came in
	want   int
	got    int
}

func (s *recordingSink) WebhookAnswer(tag any, res *sdk.WebhookResult, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got++
	if err != nil {
		s.events = append(s.events, fmt.Sprintf("%v:%s", tag, sdk.ErrorCode(err)))
		return
	}
	s.events = append(s.events, fmt.Sprintf("%v:%s", tag, res.Events[0].ID))
}

func (s *recordingSink) WebhookBatchEnd() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, "end")
	if s.got == s.want {
		close(s.all)
	}
}

// TestWebhookSinksHearEachBatchEnd: deliveries sent with SendWebhook get
// one answer each, with their tag, and each sink with deliveries in a batch
// hears the batch's end once, after their answers: the hub's inbox commits
// what came in by then.
func TestWebhookSinksHearEachBatchEnd(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			c, srv, h := startWebhooks(t, legacy)
			const n = 20
			sinks := []*recordingSink{{all: make(chan struct{}), want: n / 2}, {all: make(chan struct{}), want: n / 2}}
			go c.SendWebhook(context.Background(), &sdk.WebhookRequest{Body: []byte("ok-0")}, sinks[0], 0)
			time.Sleep(50 * time.Millisecond) // the first call is in flight and held
			for i := 1; i < n; i++ {
				body := fmt.Sprintf("ok-%d", i)
				if i%5 == 4 {
					body = fmt.Sprintf("bad-%d", i)
				}
				go c.SendWebhook(context.Background(), &sdk.WebhookRequest{Body: []byte(body)}, sinks[i%2], i)
			}
			time.Sleep(100 * time.Millisecond) // the rest queue behind it
			close(h.release)
			for _, s := range sinks {
				select {
				case <-s.all:
				case <-time.After(10 * time.Second):
					t.Fatalf("a sink heard %v", s.events)
				}
			}
			for k, s := range sinks {
				s.mu.Lock()
				answered := map[string]bool{}
				ends, since := 0, 0
				for _, e := range s.events {
					if e == "end" {
						if since == 0 {
							t.Errorf("sink %d: a batch end with no answer before it: %v", k, s.events)
						}
						ends, since = ends+1, 0
						continue
					}
					answered[e] = true
					since++
				}
				for i := k; i < n; i += 2 {
					want := fmt.Sprintf("%d:ok-%d", i, i)
					if i%5 == 4 {
						want = fmt.Sprintf("%d:%s", i, sdk.CodeUnauthenticated)
					}
					if !answered[want] {
						t.Errorf("sink %d: no answer %q in %v", k, want, s.events)
					}
				}
				if calls := int(srv.single.Load() + srv.batch.Load()); ends > calls {
					t.Errorf("sink %d heard %d batch ends for %d calls", k, ends, calls)
				}
				s.mu.Unlock()
			}
		})
	}
}
