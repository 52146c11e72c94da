package jobs

import (
	"context"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// hclogHandler sends River's slog records to the hub's hclog logger, so
// they share its format (JSON in production) and level.
type hclogHandler struct {
	log    hclog.Logger
	prefix string      // group prefix for attribute keys
	min    hclog.Level // River is chatty below warnings
	// quiet, when it returns true, turns River's warnings and errors into
	// debug lines: while the database is known to be unavailable (logged
	// once by store.Availability), River's pollers would log every try.
	quiet func() bool
}

// newSlog logs River's warnings and errors through l (nil: nowhere); see
// hclogHandler.quiet for quiet (nil: never).
func newSlog(l hclog.Logger, quiet func() bool) *slog.Logger {
	if l == nil {
		l = hclog.NewNullLogger()
	}
	return slog.New(&hclogHandler{log: l, min: hclog.Warn, quiet: quiet})
}

func (h *hclogHandler) Enabled(_ context.Context, l slog.Level) bool {
	lvl := hclogLevel(l)
	return lvl >= h.min && lvl >= h.log.GetLevel()
}

func (h *hclogHandler) Handle(_ context.Context, r slog.Record) error {
	args := make([]any, 0, 2*r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		args = append(args, h.prefix+a.Key, a.Value.Any())
		return true
	})
	if !h.Enabled(context.Background(), r.Level) {
		return nil
	}
	lvl := hclogLevel(r.Level)
	if h.quiet != nil && h.quiet() {
		lvl = hclog.Debug
	}
	h.log.Log(lvl, r.Message, args...)
	return nil
}

func (h *hclogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	args := make([]any, 0, 2*len(attrs))
	for _, a := range attrs {
		args = append(args, h.prefix+a.Key, a.Value.Any())
	}
	return &hclogHandler{log: h.log.With(args...), prefix: h.prefix, min: h.min, quiet: h.quiet}
}

func (h *hclogHandler) WithGroup(name string) slog.Handler {
	return &hclogHandler{log: h.log, prefix: h.prefix + name + ".", min: h.min, quiet: h.quiet}
}

func hclogLevel(l slog.Level) hclog.Level {
	switch {
	case l >= slog.LevelError:
		return hclog.Error
	case l >= slog.LevelWarn:
		return hclog.Warn
	case l >= slog.LevelInfo:
		return hclog.Info
	default:
		return hclog.Debug
	}
}
