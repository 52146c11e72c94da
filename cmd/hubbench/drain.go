package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"time"

	"github.com/aurora-hub/aurora-hub/cmd/internal/loadgen"
)

// drain is what happened after a storm: when the pipeline caught up.
type drain struct {
	accepted int // deliveries answered 202 (each a new incident)
	// applied: every accepted event applied, and as many incidents stored;
	// listed: GET /incidents lists them all; correlated: every incident's
	// correlation decided (it joined another, or its processing finished
	// without joining one); processed: every incident's processing
	// (enrichment, correlation) finished. Each is measured from the last
	// 202, -1 when it did not happen within the wait.
	applied, listed, decided, processed time.Duration
	decidedCount                        int // incidents whose correlation is decided
	listedCount                         int
	processedCount, jobs                int         // incidents processed, of stored
	visible                             percentiles // 202 to the incident stored (created_at)
	visibleN                            int
	correlated                          int // incidents attached to another
}

// measureDrain polls the child's database (a connection of its own,
// read-only work) and its API after a storm until the pipeline has caught
// up or wait has passed since the last delivery.
// With trace, it writes one line a second of how far the pipeline got.
func measureDrain(ctx context.Context, c *child, driver, dbURL string, l *load, wait time.Duration, trace io.Writer) (drain, error) {
	var d drain
	var last int64
	for i := range l.accepted {
		if t := l.accepted[i].Load(); t != 0 {
			d.accepted++
			last = max(last, t)
		}
	}
	lastAt := time.Unix(0, last)
	db, err := openReader(c, driver, dbURL)
	if err != nil {
		return d, err
	}
	defer db.Close()
	d.applied, d.listed, d.decided, d.processed = -1, -1, -1, -1
	deadline := lastAt.Add(wait)
	var traced, counted time.Time
	for time.Now().Before(deadline) && (d.applied < 0 || d.listed < 0 || d.decided < 0 || d.processed < 0) {
		var pending, stored int
		if err := db.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM webhook_inbox WHERE applied_at IS NULL), (SELECT count(*) FROM incidents)").Scan(&pending, &stored); err != nil {
			return d, fmt.Errorf("reading the inbox: %w", err)
		}
		if d.applied < 0 && pending == 0 && stored >= d.accepted {
			d.applied = time.Since(lastAt)
		}
		if d.applied >= 0 && d.listed < 0 {
			n, err := listAll(c.url)
			if err != nil {
				return d, err
			}
			d.listedCount = n
			if n >= d.accepted {
				d.listed = time.Since(lastAt)
			}
		}
		// Processed: every stored incident marked so (its chunk's or its own
		// job finished it) and no processing job left to run.
		var unfinished int
		if err := db.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM incident_processed), "+
			"(SELECT count(*) FROM river_job WHERE kind IN ('process_incidents', 'process_incident') AND state NOT IN ('completed', 'discarded', 'cancelled'))").
			Scan(&d.processedCount, &unfinished); err != nil {
			return d, fmt.Errorf("reading processed incidents: %w", err)
		}
		d.jobs = stored
		// Correlated: attached to another, or processed (its correlation
		// after enrichment done) without joining one. The count reads every
		// incident (about 50 ms of this process's CPU for a storm's 50,000
		// on SQLite), so it runs once a second until it nears the stored
		// count, every poll after that: polled every 100 ms throughout, it
		// took half a core from the hub on two cores while it applied and
		// listed.
		if d.decided < 0 && (time.Since(counted) >= time.Second || d.decidedCount >= stored*9/10) {
			counted = time.Now()
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM incidents WHERE parent_incident_id IS NOT NULL "+
				"OR id IN (SELECT incident_id FROM incident_processed)").Scan(&d.decidedCount); err != nil {
				return d, fmt.Errorf("reading correlated incidents: %w", err)
			}
			if stored >= d.accepted && d.decidedCount >= stored {
				d.decided = time.Since(lastAt)
			}
		}
		if d.processed < 0 && stored >= d.accepted && d.processedCount >= stored && unfinished == 0 {
			d.processed = time.Since(lastAt)
		}
		if trace != nil && time.Since(traced) >= time.Second {
			traced = time.Now()
			fmt.Fprintf(trace, "  %5.1f s after the last 202: %d pending, %d stored, %d listed, %d decided, %d processed\n",
				time.Since(lastAt).Seconds(), pending, stored, d.listedCount, d.decidedCount, d.processedCount)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Accept to visible: incidents.created_at is set in the transaction
	// that stores the incident, just before its commit.
	rows, err := db.QueryContext(ctx, "SELECT external_id, created_at FROM incidents")
	if err != nil {
		return d, fmt.Errorf("reading incidents: %w", err)
	}
	defer rows.Close()
	index := make(map[string]int, len(l.bodies))
	for i, b := range l.bodies {
		index[b.Incident] = i
	}
	var lat []time.Duration
	for rows.Next() {
		var ext string
		var created any
		if err := rows.Scan(&ext, &created); err != nil {
			return d, err
		}
		t, err := asTime(created)
		if err != nil {
			return d, err
		}
		if i, ok := index[ext]; ok {
			if acc := l.accepted[i].Load(); acc != 0 {
				lat = append(lat, t.Sub(time.Unix(0, acc)))
			}
		}
	}
	if err := rows.Err(); err != nil {
		return d, err
	}
	d.visibleN = len(lat)
	d.visible = loadgen.Summarize(lat)
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM incidents WHERE parent_incident_id IS NOT NULL").Scan(&d.correlated); err != nil {
		return d, err
	}
	if trace != nil {
		if err := traceJobs(ctx, db, lastAt, trace); err != nil {
			return d, err
		}
		// The storm's parents: processed (enriched) first, whatever the
		// number of their children.
		var top, done int
		if err := db.QueryRowContext(ctx, "SELECT count(*), count(p.incident_id) FROM incidents i"+
			" LEFT JOIN incident_processed p ON p.incident_id = i.id WHERE i.parent_incident_id IS NULL").Scan(&top, &done); err != nil {
			return d, fmt.Errorf("reading top-level incidents: %w", err)
		}
		fmt.Fprintf(trace, "  top-level incidents at the end: %d, %d of them processed\n", top, done)
	}
	return d, nil
}

func openReader(c *child, driver, dbURL string) (*sql.DB, error) {
	if driver == "postgres" {
		return sql.Open("pgx", dbURL)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(c.dir, "hub.db")+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

func asTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t, nil
	case string:
		return parseTime(t)
	case []byte:
		return parseTime(string(t))
	}
	return time.Time{}, fmt.Errorf("created_at: unexpected %T", v)
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999Z07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("created_at: cannot parse %q", s)
}

// listAll counts the incidents GET /incidents lists (correlated ones
// included), page by page.
func listAll(base string) (int, error) {
	n, cursor := 0, ""
	for {
		path := "/incidents?includeCorrelated=true&limit=500"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		code, body, err := call(base, "GET", path, "")
		if err != nil || code != 200 {
			return n, fmt.Errorf("GET /incidents: %d %v", code, err)
		}
		var page struct {
			Incidents  []json.RawMessage `json:"incidents"`
			NextCursor *string           `json:"nextCursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return n, fmt.Errorf("GET /incidents: %w", err)
		}
		n += len(page.Incidents)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return n, nil
		}
		cursor = *page.NextCursor
	}
}

// traceJobs writes, for the apply and early-correlation jobs, how long
// they ran and how long their worker waited between two of them (for the
// next fetch): the time a queue of one worker leaves SQLite's writer idle.
func traceJobs(ctx context.Context, db *sql.DB, lastAt time.Time, w io.Writer) error {
	rows, err := db.QueryContext(ctx, "SELECT kind, attempted_at, finalized_at FROM river_job"+
		" WHERE kind IN ('apply_webhook_events', 'correlate_incidents') AND attempted_at IS NOT NULL AND finalized_at IS NOT NULL"+
		" ORDER BY kind, attempted_at")
	if err != nil {
		return fmt.Errorf("reading jobs: %w", err)
	}
	defer rows.Close()
	type span struct{ began, ended time.Time }
	var kinds []string
	spans := map[string][]span{}
	for rows.Next() {
		var kind string
		var began, ended any
		if err := rows.Scan(&kind, &began, &ended); err != nil {
			return fmt.Errorf("reading jobs: %w", err)
		}
		var sp span
		if sp.began, err = asTime(began); err != nil {
			return err
		}
		if sp.ended, err = asTime(ended); err != nil {
			return err
		}
		if spans[kind] == nil {
			kinds = append(kinds, kind)
		}
		spans[kind] = append(spans[kind], sp)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading jobs: %w", err)
	}
	for _, kind := range kinds {
		sp := spans[kind]
		var ran, between time.Duration
		for i, s := range sp {
			ran += s.ended.Sub(s.began)
			// Gaps of a second or more: nothing was there to run.
			if gap := s.began.Sub(sp[max(i-1, 0)].ended); i > 0 && gap > 0 && gap < time.Second {
				between += gap
			}
		}
		fmt.Fprintf(w, "  %s: %d jobs from %.1f to %.1f s after the last 202, running %.1f s, between two jobs %.1f s\n",
			kind, len(sp), sp[0].began.Sub(lastAt).Seconds(), sp[len(sp)-1].ended.Sub(lastAt).Seconds(), ran.Seconds(), between.Seconds())
	}
	return nil
}
