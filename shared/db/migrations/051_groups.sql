-- Friend groups that meet (issue 13). A group plans outings in one city; members join with an invitation code
-- and say where they start from, whether they drive, what they can eat and spend. Each month a cycle proposes
-- five options, runs an approval vote, closes the plan and collects a retrospective.
-- Everything personal goes with the account (ON DELETE CASCADE from users); a group goes with its owner.
CREATE TABLE IF NOT EXISTS groups (
    id             text PRIMARY KEY,
    owner_id       text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name           text NOT NULL,
    city_id        text NOT NULL REFERENCES cities(id),
    timezone       text NOT NULL,                   -- the city's zone: venue hours and outing times are local
    quorum         integer NOT NULL CHECK (quorum >= 1),
    monthly_budget numeric(10, 2) NOT NULL CHECK (monthly_budget >= 0),  -- per person, the group's currency
    aggregation    text NOT NULL CHECK (aggregation IN ('least_misery', 'nash_welfare', 'average')),
    outing_minutes integer NOT NULL CHECK (outing_minutes BETWEEN 30 AND 720),
    active         boolean NOT NULL DEFAULT true,
    history        jsonb NOT NULL DEFAULT '{}'::jsonb,   -- venues, kinds and areas the group did and liked
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS group_invites (
    code       text PRIMARY KEY,
    group_id   text NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    created_by text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS group_invites_group ON group_invites (group_id);

CREATE TABLE IF NOT EXISTS group_members (
    group_id     text NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id      text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role         text NOT NULL CHECK (role IN ('owner', 'member')),
    display_name text NOT NULL DEFAULT '',
    home_lat     double precision CHECK (home_lat BETWEEN -90 AND 90),
    home_lon     double precision CHECK (home_lon BETWEEN -180 AND 180),
    home_label   text,                                 -- the address as given, when it was placed from one
    seats        integer NOT NULL DEFAULT 0 CHECK (seats BETWEEN 0 AND 8),
    diet         text[] NOT NULL DEFAULT '{}',
    access       text[] NOT NULL DEFAULT '{}',
    budget       numeric(10, 2) CHECK (budget >= 0),  -- their own most per outing, when below the group's
    timezone     text,                                 -- the member's own zone, for convenient times
    preferences  jsonb NOT NULL DEFAULT '{}'::jsonb,    -- tag -> weight; retrospectives move it
    joined_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX IF NOT EXISTS group_members_user ON group_members (user_id);

-- A member's calendar for one group: an uploaded .ics (kept as text, expanded per query: recurrences have no
-- end), busy intervals given directly, or a Google Calendar read through freeBusy at query time.
CREATE TABLE IF NOT EXISTS group_calendars (
    group_id    text NOT NULL,
    user_id     text NOT NULL,
    source      text NOT NULL CHECK (source IN ('ics', 'busy', 'google')),
    ics         text,
    busy        jsonb,
    calendar_id text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id),
    FOREIGN KEY (group_id, user_id) REFERENCES group_members (group_id, user_id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS group_cycles (
    id           text PRIMARY KEY,
    group_id     text NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    month        date NOT NULL,                        -- first day of the month the outing belongs to
    status       text NOT NULL CHECK (status IN ('proposed', 'voting', 'closed', 'happened', 'reviewed')),
    window_start timestamptz,
    window_end   timestamptz,
    attendees    text[] NOT NULL DEFAULT '{}',         -- members free in the window
    deadline     timestamptz NOT NULL,
    options      jsonb NOT NULL DEFAULT '[]'::jsonb,
    winner       integer,
    reason       text,                                 -- why it closed as it did, or why there is no plan
    carpools     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    closed_at    timestamptz,
    UNIQUE (group_id, month)
);

CREATE TABLE IF NOT EXISTS group_votes (
    cycle_id  text NOT NULL REFERENCES group_cycles(id) ON DELETE CASCADE,
    user_id   text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    approvals integer[] NOT NULL,
    voted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cycle_id, user_id)
);

CREATE TABLE IF NOT EXISTS group_retrospectives (
    cycle_id      text NOT NULL REFERENCES group_cycles(id) ON DELETE CASCADE,
    user_id       text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    rating        integer NOT NULL CHECK (rating BETWEEN 1 AND 5),
    venue_ratings jsonb NOT NULL DEFAULT '{}'::jsonb,
    attended      text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cycle_id, user_id)
);
