package incidents

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Feedback types: a user's verdict on an incident's analysis.
const (
	FeedbackHelpful    = "helpful"
	FeedbackNotHelpful = "not_helpful"
)

// Feedback is one user's verdict on one incident's analysis; it is final.
type Feedback struct {
	bun.BaseModel `bun:"table:incident_feedback"`

	ID         string    `bun:"id,pk"`
	IncidentID string    `bun:"incident_id"`
	UserID     string    `bun:"user_id"`
	Type       string    `bun:"feedback_type"`
	Comment    *string   `bun:"comment"`
	CreatedAt  time.Time `bun:"created_at"`
}

// UserFeedback returns userID's feedback on the incident, or nil.
func UserFeedback(ctx context.Context, db bun.IDB, incidentID, userID string) (*Feedback, error) {
	f := &Feedback{}
	err := db.NewSelect().Model(f).Where("incident_id = ? AND user_id = ?", incidentID, userID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading feedback: %w", err)
	}
	f.CreatedAt = f.CreatedAt.UTC()
	return f, nil
}

// AddFeedback stores a user's feedback and fills its id and time. It
// reports false, storing nothing, when the user already gave feedback on
// the incident.
func AddFeedback(ctx context.Context, db bun.IDB, f *Feedback) (bool, error) {
	f.ID = uuid.NewString()
	f.CreatedAt = time.Now().UTC()
	res, err := db.NewInsert().Model(f).On("CONFLICT (incident_id, user_id) DO NOTHING").Returning("NULL").Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("storing feedback: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("storing feedback: %w", err)
	}
	return n == 1, nil
}
