package protocol

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// Codec is the protobuf codec both sides of the provider protocol use:
// grpc-go's own, except for the pool its message buffers come from.
// grpc-go's default pool has no size between 32 KiB and 1 MiB, so every
// batch of webhooks (64 bodies of about 1.7 KB each way) took a 1 MiB
// buffer to marshal and another to read, and the pool kept several of them
// alive between collections, in the plugin and in the hub: megabytes of
// live heap that the collector's goal doubles. Here the sizes are every
// power of two up to MaxMessageSize.
var Codec encoding.CodecV2 = codec{}

var buffers = mem.NewTieredBufferPool(powersOfTwo(8, 26)...)

func powersOfTwo(from, to int) []int {
	out := make([]int, 0, to-from+1)
	for e := from; e <= to; e++ {
		out = append(out, 1<<e)
	}
	return out
}

type codec struct{}

// Name is grpc-go's name for protobuf, so the content-subtype on the wire
// stays application/grpc+proto (or none) and either side may use its
// default codec.
func (codec) Name() string { return "proto" }

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("protocol codec: cannot marshal %T, not a protobuf message", v)
	}
	size := proto.Size(m)
	// UseCachedSize: Size just computed and cached it.
	opts := proto.MarshalOptions{UseCachedSize: true}
	if mem.IsBelowBufferPoolingThreshold(size) {
		b, err := opts.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	buf := buffers.Get(size)
	if _, err := opts.MarshalAppend((*buf)[:0], m); err != nil {
		buffers.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, buffers)}, nil
}

func (codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("protocol codec: cannot unmarshal into %T, not a protobuf message", v)
	}
	buf := data.MaterializeToBuffer(buffers)
	defer buf.Free()
	return proto.Unmarshal(buf.ReadOnlyData(), m)
}
