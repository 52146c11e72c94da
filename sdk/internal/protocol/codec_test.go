package protocol_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/aurora-hub/aurora-hub/sdk/internal/protocol"
	pb "github.com/aurora-hub/aurora-hub/sdk/proto/providerv1"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	protobuf "google.golang.org/protobuf/proto"
)

// batch is a HandleWebhooks request of n deliveries of 1.7 KB each.
func batch(n int) *pb.HandleWebhooksRequest {
	r := &pb.HandleWebhooksRequest{}
	for i := range n {
		r.Requests = append(r.Requests, &pb.HandleWebhookRequest{Body: bytes.Repeat([]byte{byte('a' + i%26)}, 1700)})
	}
	return r
}

// TestCodecIsProtobufInSizedBuffers: the codec writes and reads what
// grpc-go's protobuf codec does (either side of a connection may use that
// one), and a batch's buffer is the next power of two above its size, not
// grpc-go's 1 MiB tier.
func TestCodecIsProtobufInSizedBuffers(t *testing.T) {
	grpcs := encoding.GetCodecV2(proto.Name)
	for _, n := range []int{0, 1, 16, 64} {
		t.Run(fmt.Sprint(n, " deliveries"), func(t *testing.T) {
			in := batch(n)
			size := protobuf.Size(in)
			data, err := protocol.Codec.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			ours := data.Materialize()
			want, err := grpcs.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ours, want.Materialize()) {
				t.Fatal("the codec's bytes differ from grpc-go's protobuf codec's")
			}
			if len(data) == 1 && !mem.IsBelowBufferPoolingThreshold(size) {
				if c := cap(data[0].ReadOnlyData()); c > 2*size {
					t.Errorf("a %d-byte message took a %d-byte buffer", size, c)
				}
			}
			var out pb.HandleWebhooksRequest
			// Read back in 16 KB pieces, as HTTP/2 frames arrive.
			var frames mem.BufferSlice
			for b := ours; len(b) > 0; {
				k := min(len(b), 16<<10)
				frames = append(frames, mem.SliceBuffer(b[:k]))
				b = b[k:]
			}
			if err := protocol.Codec.Unmarshal(frames, &out); err != nil {
				t.Fatal(err)
			}
			if !protobuf.Equal(in, &out) {
				t.Error("round trip changed the message")
			}
			data.Free()
		})
	}
	if _, err := protocol.Codec.Marshal("not a message"); err == nil {
		t.Error("marshalling a string: no error")
	}
}
