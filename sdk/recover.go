package sdk

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
)

// msgPanic is what the hub sees of a panic in a provider method.
const msgPanic = "internal plugin error (the plugin panicked; see its log)"

// recoverUnary turns a panic in a provider method into a CodeInternal
// answer, logging the panic and its stack, so one bad delivery neither kills
// the plugin process nor the calls in flight beside it.
func recoverUnary(log hclog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (res any, err error) {
		defer func() {
			if v := recover(); v != nil {
				res, err = nil, toStatus(panicError(log, info.FullMethod, v))
			}
		}()
		return handler(ctx, req)
	}
}

// recoverStream is recoverUnary for streaming calls.
func recoverStream(log hclog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = toStatus(panicError(log, info.FullMethod, v))
			}
		}()
		return handler(srv, ss)
	}
}

// panicError logs a recovered panic with its stack and returns the error
// the hub is told.
func panicError(log hclog.Logger, method string, v any) *Error {
	if log == nil {
		log = hclog.Default()
	}
	log.Error("panic in provider method", "method", method, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	return &Error{Code: CodeInternal, Message: msgPanic}
}
