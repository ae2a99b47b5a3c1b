-- Consent in group trips (issue 12): a user is planned into someone's group trip only after one of them accepted
-- the other's invitation. An invitation is a single-use code with an expiry; an accepted one makes the two users
-- companions (stored in both directions, so either can withdraw and each lookup is one key). Both go with the
-- account (ON DELETE CASCADE from users).
CREATE TABLE IF NOT EXISTS companion_invites (
    code        text PRIMARY KEY,
    inviter_id  text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    accepted_by text REFERENCES users(id) ON DELETE CASCADE,
    accepted_at timestamptz
);
CREATE INDEX IF NOT EXISTS companion_invites_inviter ON companion_invites (inviter_id);

CREATE TABLE IF NOT EXISTS companions (
    user_id      text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    companion_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    since        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, companion_id),
    CHECK (user_id <> companion_id)
);
